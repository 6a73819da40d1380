import { AssistClient } from '/sdk/index.js';
import { byId, wire, showError, clearError, tokenFromUrl } from '../shared/page.js';
import { drawOverlay, showStep, toNormalised } from '../shared/overlay.js';

// The demo ticket's script (a real console would load it from the ticketing system).
const SCRIPT = { ticket: 'T-1001', steps: ['Check the router is powered on', 'Open the router admin page',
  'Go to Wireless settings', 'Restart the router'] };
let stepIndex = -1;
let view = null;
let tool = 'point';
let drag = null;

let client = null;
let muted = false;

async function join(token) {
  clearError();
  // Listeners first, then connect: `joined` and every later event are seen.
  client = new AssistClient({ url: location.origin, token, noticeAcknowledged: true });
  wire(client, {
    onEvent(name, e) {
      if (name === 'trackAdded') {
        const el = e.source === 'screen' ? byId('screen') : e.kind === 'audio' ? byId('audio') : byId('camera');
        el.srcObject = e.stream;
        // The content box (letterboxing) is known once the video has a size.
        if (e.source === 'screen') el.onresize = () => redraw();

      }
      if (name === 'trackRemoved') {
        if (e.source === 'screen') byId('screen').srcObject = null;
        if (e.source === 'camera') byId('camera').srcObject = null;
      }
      if (name === 'memberJoined') {
        byId('customer-status').textContent = `${e.member.id} joined`;
        if (e.member.diagnostics) showReport(e.member.diagnostics);
      }
      if (name === 'memberDiagnostics') showReport(e.report);
      if (name === 'overlayChanged') {
        view = e;
        redraw();
        showStep(byId('step'), e.step);
      }
      if (name === 'memberLeft') byId('customer-status').textContent = `${e.member} left (${e.reason})`;
      if (name.startsWith('recorder')) showRecorder(name, e);
    },
  });
  await client.connect();
  // Tests wait for this: the client, once connected.
  window.assist.client = client;
  const present = client.members.find((m) => m.role === 'guest');
  if (present) byId('customer-status').textContent = `${present.id} is here`;
  if (present?.diagnostics) showReport(present.diagnostics);
  byId('start').classList.add('hidden');
  byId('call').classList.remove('hidden');
  // Local recording is a build option of the SDK, and a right of hosts in rooms that record.
  if (client.recorder && client.capabilities.includes('record_local')) byId('recording').classList.remove('hidden');
}

/** The recorder's state and upload, next to its buttons. */
function showRecorder(name, e) {
  const running = ['recording', 'paused'].includes(client.recorder.state);
  byId('record').disabled = running;
  for (const id of ['record-pause', 'bookmark', 'record-stop']) byId(id).disabled = !running;
  byId('record-pause').textContent = client.recorder.state === 'paused' ? 'Resume' : 'Pause';
  const status = byId('record-status');
  if (name === 'recorderProgress') status.textContent = `${Math.round(e.durationMs / 1000)} s, ${Math.round(e.bytes / 1024)} KB`;
  if (name === 'recorderConsentPaused') status.textContent = `paused: ${e.member} withdrew consent`;
  if (name === 'recorderUpload' && e.state === 'done') status.textContent = `uploaded as ${e.recording}`;
  if (name === 'recorderUpload' && e.state === 'failed') status.textContent = `upload failed: ${e.code}`;
  if (name === 'recorderFailed') status.textContent = `recording failed: ${e.code}`;
}

function recorderAction(f) {
  return () => {
    clearError();
    try {
      f(client.recorder);
    } catch (e) {
      showError(e);
    }
  };
}

byId('record').onclick = recorderAction((r) => {
  client.setRecordingConsent(true);
  r.start({ source: 'mixed', stereo: true });
});
byId('record-pause').onclick = recorderAction((r) => (r.state === 'paused' ? r.resume() : r.pause()));
byId('bookmark').onclick = recorderAction((r) => r.bookmark('agent bookmark'));
byId('record-stop').onclick = recorderAction((r) => r.stop());

byId('create').onclick = async () => {
  byId('create').disabled = true;
  try {
    const res = await fetch('/v1/demo/rooms', { method: 'POST' });
    const room = await res.json();
    if (!res.ok) throw Object.assign(new Error(room.error?.message ?? res.statusText), { code: room.error?.code });
    const agent = room.members.find((m) => m.role === 'host');
    const customer = room.members.find((m) => m.role === 'guest');
    // The token rides in the fragment, which the browser never sends to a server: it stays out
    // of access logs, proxies and Referer headers.
    const link = `${location.origin}/customer/#token=${encodeURIComponent(customer.token)}`;
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

// Tests and integrations can hand the agent a token directly: /agent/#token=…
const token = tokenFromUrl();
if (token) join(token).catch(showError);

// ---- the customer's pre-call check, beside the call ----

// Display names for the report's stable codes (an app localises these).
const REASONS = {
  server_unreachable: 'Could not reach the server', no_media_path: 'No network path for media',
  udp_blocked: 'UDP blocked: media goes through a relay', high_rtt: 'High round-trip time',
  high_jitter: 'High jitter', packet_loss: 'Packet loss', low_upload: 'Low upload bandwidth',
  low_download: 'Low download bandwidth', camera_unavailable: 'Camera unavailable',
  camera_black: 'Camera shows only black', camera_frozen: 'Camera picture frozen',
  camera_low_quality: 'Camera picture small or slow', microphone_unavailable: 'Microphone unavailable',
  microphone_silent: 'Microphone silent', speaker_unconfirmed: 'Speaker not confirmed',
  screen_share_denied: 'Screen sharing refused', incomplete: 'Some checks did not finish',
};

function showReport(report) {
  byId('report').classList.remove('hidden');
  const verdict = byId('report-verdict');
  verdict.textContent = report.verdict;
  verdict.dataset.verdict = report.verdict;
  const n = report.network;
  const figures = [
    n && `RTT ${n.rtt_ms} ms`, n && `jitter ${n.jitter_ms} ms`, n && `loss ${n.loss_pct} %`,
    report.upload_kbps !== undefined && `up ${report.upload_kbps} kbps`,
    report.download_kbps !== undefined && `down ${report.download_kbps} kbps`,
  ].filter(Boolean);
  byId('report-figures').textContent = figures.join(' · ');
  byId('report-reasons').replaceChildren(...report.reasons.map((code) => {
    const li = document.createElement('li');
    li.textContent = REASONS[code] ?? code;
    li.dataset.code = code;
    return li;
  }));
}

// ---- assist tools over the customer's screen ----

function redraw(pending) {
  drawOverlay(byId('overlay'), byId('screen'), view, { pending });
}

for (const button of document.querySelectorAll('.tool')) {
  button.onclick = () => {
    tool = button.dataset.tool;
    for (const b of document.querySelectorAll('.tool')) b.setAttribute('aria-pressed', String(b === button));
  };
}

const canvas = byId('overlay');
canvas.addEventListener('pointermove', (e) => {
  const p = toNormalised(byId('screen'), e);
  if (!p || !client) return;
  if (tool === 'point') {
    client.assist.pointer(p.x, p.y, byId('screen').currentTime * 1000);
  } else if (drag) {
    redraw(pendingShape(drag, p));
  }
});
canvas.addEventListener('pointerdown', (e) => {
  const p = toNormalised(byId('screen'), e);
  if (p && tool !== 'point') drag = p;
});
canvas.addEventListener('pointerup', (e) => {
  const p = toNormalised(byId('screen'), e);
  const start = drag;
  drag = null;
  if (!start || !p || !client) return redraw();
  try {
    const at = byId('screen').currentTime * 1000;
    if (tool === 'box') {
      const r = boxOf(start, p);
      if (r.w > 0.005 && r.h > 0.005) client.assist.highlight(r, { color: '#ff3b30', ttlMs: 30_000, at });
    } else if (tool === 'arrow') {
      client.assist.arrow(start, p, { color: '#0a84ff', ttlMs: 30_000, at });
    }
  } catch (err) {
    showError(err);
  }
  redraw();
});

function boxOf(a, b) {
  return { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y) };
}

function pendingShape(start, p) {
  return tool === 'box'
    ? { kind: 'highlight', rect: boxOf(start, p), color: '#ff3b30' }
    : { kind: 'arrow', from: start, to: p, color: '#0a84ff' };
}

byId('clear').onclick = () => client?.assist.clear();

function setStep(i) {
  stepIndex = Math.max(0, Math.min(SCRIPT.steps.length - 1, i));
  try {
    client.assist.scriptStep({ ticket: SCRIPT.ticket, step: stepIndex + 1, total: SCRIPT.steps.length, title: SCRIPT.steps[stepIndex] });
  } catch (err) {
    showError(err);
  }
}
byId('next-step').onclick = () => setStep(stepIndex + 1);
byId('prev-step').onclick = () => setStep(stepIndex - 1);
window.addEventListener('resize', () => redraw());
