import { AssistClient } from '/sdk/index.js';
import { byId, wire, showError, clearError, tokenFromUrl } from '../shared/page.js';

let client = null;
let muted = false;

async function join(token) {
  clearError();
  client = await AssistClient.connect({ url: location.origin, token, noticeAcknowledged: true });
  window.assist.client = client;
  wire(client, {
    onEvent(name, e) {
      if (name === 'trackAdded') {
        const el = e.source === 'screen' ? byId('screen') : e.kind === 'audio' ? byId('audio') : byId('camera');
        el.srcObject = e.stream;
      }
      if (name === 'trackRemoved') {
        if (e.source === 'screen') byId('screen').srcObject = null;
        if (e.source === 'camera') byId('camera').srcObject = null;
      }
      if (name === 'memberJoined') byId('customer-status').textContent = `${e.member.id} joined`;
      if (name === 'memberLeft') byId('customer-status').textContent = `${e.member} left (${e.reason})`;
    },
  });
  byId('start').classList.add('hidden');
  byId('call').classList.remove('hidden');
}

byId('create').onclick = async () => {
  byId('create').disabled = true;
  try {
    const res = await fetch('/v1/demo/rooms', { method: 'POST' });
    const room = await res.json();
    if (!res.ok) throw Object.assign(new Error(room.error?.message ?? res.statusText), { code: room.error?.code });
    const agent = room.members.find((m) => m.role === 'host');
    const customer = room.members.find((m) => m.role === 'guest');
    const link = `${location.origin}/customer/?token=${encodeURIComponent(customer.token)}`;
    byId('link').value = link;
    byId('invite').classList.remove('hidden');
    byId('open-customer').onclick = () => window.open(link, '_blank');
    await join(agent.token);
  } catch (e) {
    byId('create').disabled = false;
    showError(e);
  }
};

byId('cam').onclick = async () => {
  try {
    if (client.localStream('camera')) {
      client.stopSource('camera');
      byId('cam').textContent = 'Turn camera on';
      byId('self').srcObject = null;
    } else {
      byId('self').srcObject = await client.startCamera();
      byId('cam').textContent = 'Turn camera off';
    }
  } catch (e) {
    showError(e);
  }
};

byId('mic').onclick = async () => {
  try {
    await client.startMicrophone();
    byId('mic').disabled = true;
    byId('mute').disabled = false;
  } catch (e) {
    showError(e);
  }
};

byId('mute').onclick = () => {
  muted = !muted;
  client.setMuted('microphone', muted);
  byId('mute').textContent = muted ? 'Unmute' : 'Mute';
};

byId('leave').onclick = async () => {
  await client?.leave();
  byId('call').classList.add('hidden');
  byId('state').textContent = 'ended';
  byId('state').dataset.state = 'ended';
};

// Tests and integrations can hand the agent a token directly: /agent/?token=…
const token = tokenFromUrl();
if (token) join(token).catch(showError);
