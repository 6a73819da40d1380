import { AssistClient } from '/sdk/index.js';
import { byId, wire, showError, clearError, tokenFromUrl } from '../shared/page.js';
import { drawOverlay, showStep } from '../shared/overlay.js';

let view = null;
const redraw = () => drawOverlay(byId('overlay'), byId('screen-preview'), view);
window.addEventListener('resize', redraw);

const token = tokenFromUrl();
let previewStream = null;
let client = null;

byId('accept').onclick = () => {
  byId('notice').classList.add('hidden');
  byId('setup').classList.remove('hidden');
  if (!token) showError({ message: 'This link has no call token. Ask your agent for a new link.' });
};

byId('preview-btn').onclick = async () => {
  try {
    previewStream ??= await navigator.mediaDevices.getUserMedia({ video: true });
    byId('preview').srcObject = previewStream;
  } catch (e) {
    showError({ code: 'forbidden', message: `camera unavailable: ${e.message}` });
  }
};

byId('join').onclick = async () => {
  clearError();
  byId('join').disabled = true;
  // Listeners first, then connect: `joined` and every later event are seen.
  client = new AssistClient({ url: location.origin, token, noticeAcknowledged: true });
  wire(client, {
    onEvent(name, e) {
      if (name === 'trackAdded' && e.source === 'camera') byId('remote-camera').srcObject = e.stream;
      if (name === 'localTrackEnded' && e.source === 'screen') screenStopped();
      if (name === 'overlayChanged') {
        view = e;
        redraw();
        showStep(byId('step'), e.step);
      }
    },
  });
  try {
    await client.connect();
  } catch (e) {
    client.dispose();
    client = null;
    byId('join').disabled = false;
    return showError(e);
  }
  // Tests wait for this: the client, once connected.
  window.assist.client = client;
  previewStream?.getTracks().forEach((t) => t.stop());
  previewStream = null;
  byId('setup').classList.add('hidden');
  byId('call').classList.remove('hidden');
  byId('share').disabled = !client.canShareScreen();
  if (!client.canShareScreen()) byId('share').title = 'Screen sharing is not enabled for this call';
};

function toggle(button, source, on, off) {
  button.onclick = async () => {
    clearError();
    try {
      if (client.localStream(source)) {
        client.stopSource(source);
        button.textContent = on;
        if (source === 'camera') byId('self').srcObject = null;
      } else {
        const stream = source === 'camera' ? await client.startCamera() : await client.startMicrophone();
        button.textContent = off;
        if (source === 'camera') byId('self').srcObject = stream;
      }
    } catch (e) {
      showError(e);
    }
  };
}
toggle(byId('camera'), 'camera', 'Turn camera on', 'Turn camera off');
toggle(byId('mic'), 'microphone', 'Turn microphone on', 'Turn microphone off');

function screenStopped() {
  byId('share').textContent = 'Share screen';
  byId('screen-surface').classList.add('hidden');
  byId('screen-preview').srcObject = null;
}

byId('share').onclick = async () => {
  clearError();
  try {
    if (client.localStream('screen')) {
      client.stopScreen();
      screenStopped();
    } else {
      const stream = await client.shareScreen({ audio: false });
      byId('share').textContent = 'Stop sharing';
      const preview = byId('screen-preview');
      preview.srcObject = stream;
      byId('screen-surface').classList.remove('hidden');
      preview.onresize = redraw;
    }
  } catch (e) {
    showError(e);
  }
};

byId('leave').onclick = async () => {
  await client?.leave();
  byId('call').classList.add('hidden');
  byId('state').textContent = 'ended';
  byId('state').dataset.state = 'ended';
};
