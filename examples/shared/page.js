// Shared bits of the demo pages: state badge, error line, and a log tests can read.
export function byId(id) {
  return document.getElementById(id);
}

/**
 * Records every SDK event on `window.assist.events` and mirrors state and errors in the UI.
 * Called before `connect()`, so it sees `joined` and everything after.
 */
export function wire(client, { onEvent } = {}) {
  const names = ['stateChanged', 'joined', 'memberJoined', 'memberLeft', 'trackPublished', 'trackAdded',
    'trackRemoved', 'localTrackEnded', 'permissionsChanged', 'reconnecting', 'reconnected', 'recordingChanged',
    'overlayChanged', 'memberDiagnostics', 'preflightProgress', 'memberConsent', 'recorderState', 'recorderProgress',
    'recorderConsentPaused', 'recorderUpload', 'recorderFailed', 'error', 'ended'];
  for (const name of names) {
    client.on(name, (e) => {
      window.assist.events.push({ name, at: performance.now(), ...summarise(e) });
      if (name === 'stateChanged') showState(e.state);
      if (name === 'error') showError(e);
      if (name === 'recordingChanged' && e.mode === 'local') showRecording(e.state);
      onEvent?.(name, e);
    });
  }
  showState(client.state);
}

function summarise(e) {
  const { stream, track, ...rest } = e ?? {};
  return rest;
}

export function showState(state) {
  const badge = byId('state');
  badge.textContent = state;
  badge.dataset.state = state;
}

/** The recording indicator both sides show while anyone records (hidden when stopped). */
export function showRecording(state) {
  const badge = byId('rec');
  if (!badge) return;
  badge.textContent = state === 'paused' ? '❚❚ recording paused' : '● recording';
  badge.classList.toggle('hidden', state === 'stopped');
  badge.dataset.state = state;
}

export function showError(e) {
  window.assist.lastError = { code: e.code, message: e.message };
  byId('error').textContent = e.code ? `${e.code}: ${e.message}` : String(e.message ?? e);
}

export function clearError() {
  byId('error').textContent = '';
}

/** The call token from the URL fragment (`#token=…`): never sent to a server, so it stays out
 * of access logs and Referer headers. */
export function tokenFromUrl() {
  return new URLSearchParams(location.hash.slice(1)).get('token');
}

window.assist = { client: null, events: [], lastError: null };
