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

// What to tell the customer for each advice code of the pre-call check (an app localises these).
const ADVICE = {
  check_connection: 'Check your internet connection, or try another network.',
  allow_udp: 'Your network blocks the fastest route for video; the call will work through a relay. Another network may give better quality.',
  improve_wifi: 'Move closer to your Wi-Fi router, or use a cable.',
  close_bandwidth_hogs: 'Close other apps or tabs that use the network (downloads, videos).',
  allow_camera: 'Allow the camera in your browser settings.',
  connect_camera: 'Connect a camera, or close other apps using it.',
  uncover_camera: 'Your camera shows only black: uncover the lens or open its privacy shutter.',
  allow_microphone: 'Allow the microphone in your browser settings.',
  check_microphone: 'We could not hear you: unmute your microphone or pick another one.',
  check_speaker: 'Turn your volume up or pick other speakers.',
  allow_screen_share: 'Allow screen sharing when asked.',
  retry_check: 'Some checks did not finish: run the check again.',
};

let report = null;

/** The client, made once: the check runs on it before the call, then it joins. */
function ensureClient() {
  if (client) return client;
  // Listeners first, then connect: `joined` and every later event are seen.
  client = new AssistClient({ url: location.origin, token, noticeAcknowledged: true });
  wire(client, {
    onEvent(name, e) {
      if (name === 'preflightProgress') byId('check-step').textContent = `checking ${e.step}…`;
      if (name === 'trackAdded' && e.source === 'camera') byId('remote-camera').srcObject = e.stream;
      if (name === 'localTrackEnded' && e.source === 'screen') screenStopped();
      if (name === 'overlayChanged') {
        view = e;
        redraw();
        showStep(byId('step'), e.step);
      }
    },
  });
  return client;
}

byId('check').onclick = async () => {
  clearError();
  const c = ensureClient();
  if (!c.preflight) return showError({ message: 'This build of the SDK has no pre-call check.' });
  byId('check').disabled = true;
  try {
    // A preflight token comes from the app's backend; the demo server hands one out.
    const res = await fetch('/v1/demo/preflight-tokens', { method: 'POST' });
    const body = await res.json();
    if (!res.ok) throw Object.assign(new Error(body.error?.message ?? res.statusText), { code: body.error?.code });
    byId('check-result').classList.remove('hidden');
    report = await c.preflight({ token: body.token });
    window.assist.report = report;
    const verdict = byId('check-verdict');
    verdict.textContent = report.verdict;
    verdict.dataset.verdict = report.verdict;
    byId('check-step').textContent = report.verdict === 'good' ? 'All good.' : '';
    byId('check-advice').replaceChildren(...report.advice.map((code) => {
      const li = document.createElement('li');
      li.textContent = ADVICE[code] ?? code;
      li.dataset.code = code;
      return li;
    }));
  } catch (e) {
    showError(e);
  } finally {
    byId('check').disabled = false;
  }
};

byId('join').onclick = async () => {
  clearError();
  byId('join').disabled = true;
  ensureClient();
  // Only with the customer's say-so: the agent sees the report beside the call.
  if (report && byId('share-report').checked) {
    try {
      client.shareDiagnostics(report);
    } catch (e) {
      showError(e);
    }
  }
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

// Recording needs the customer's consent; withdrawing it pauses a running recording for both.
byId('consent').onchange = () => {
  try {
    client?.setRecordingConsent(byId('consent').checked);
  } catch (e) {
    showError(e);
  }
};
