// The in-call screen: remote and local video, the controls (mute, camera, screen share,
// audio-only, recording for providers, end call), the connection-quality and recording
// indicators, the audio-only suggestion and the recording consent question. It is built once
// and updated from the SDK's state, so video elements survive every re-render.
import { h, toggle, setPressed } from './dom.js';
import { qualityLevel } from '/assets/vytalcall-client.js';

const PHASE_TEXT = {
  joining: 'Connecting…',
  waiting: 'Waiting for the other side to join…',
  connected: 'Connected',
  reconnecting: 'Your connection dropped. Reconnecting…',
};

export function callView({ client, role, announce }) {
  const otherName = role === 'patient' ? 'Your provider' : 'The patient';
  const tiles = new Map(); // userId -> { el, video, badges }
  // Remote media can arrive before the state lists its sender (the offer may overtake
  // `participant-joined`): streams are kept apart from tiles so that no render drops one.
  const streams = new Map(); // userId -> MediaStream
  let answeredConsent = null;
  let lastQualityLevel = null;

  const title = h('h2', { id: 'call-heading', dataset: { testid: 'call-title' } }, 'Call');
  const phase = h('p', { class: 'phase', dataset: { testid: 'call-phase' } });
  const quality = h('span', { class: 'indicator quality', dataset: { testid: 'quality', level: 'unknown' }, title: 'Connection quality' }, 'Connection: measuring…');
  const recording = h('span', { class: 'indicator recording', dataset: { testid: 'recording-indicator' }, hidden: true, role: 'img', 'aria-label': 'This call is being recorded' }, '● Recording');
  const remotes = h('div', { class: 'remotes', dataset: { testid: 'remote-videos' } });
  const waiting = h('div', { class: 'placeholder', dataset: { testid: 'remote-placeholder' } }, 'Waiting for the other side…');
  const localVideo = h('video', { class: 'local', autoplay: true, muted: true, playsInline: true, 'aria-label': 'Your camera', dataset: { testid: 'local-video' } });
  localVideo.muted = true;

  const muteButton = toggle('Mute microphone', 'toggle-mute', () => client.setMuted(client.state.local.audioEnabled));
  const cameraButton = toggle('Turn camera off', 'toggle-camera', () => client.setCameraEnabled(!client.state.local.videoEnabled));
  const screenButton = toggle('Share screen', 'toggle-screen', () => void shareScreen());
  const audioOnlyButton = h('button', { type: 'button', class: 'control', 'aria-label': 'Switch to audio only', dataset: { testid: 'audio-only' }, onclick: () => void audioOnly() }, 'Audio only');
  const recordButton = toggle('Start recording', 'toggle-recording', () => void toggleRecording());
  recordButton.hidden = role === 'patient';
  const endButton = h('button', { type: 'button', class: 'control danger', 'aria-label': 'End call for everyone', dataset: { testid: 'end-call' }, onclick: () => void endCall() }, 'End call');

  const suggestion = h(
    'div',
    { class: 'banner', dataset: { testid: 'audio-only-suggestion' }, hidden: true },
    h('span', {}, 'Your connection is weak. Switching to audio only may help.'),
    h('button', { type: 'button', onclick: () => void audioOnly() }, 'Switch to audio only'),
    h('button', { type: 'button', class: 'secondary', onclick: () => (suggestion.hidden = true) }, 'Dismiss'),
  );
  const recordConfirm = h(
    'div',
    { class: 'banner', dataset: { testid: 'record-confirm' }, hidden: true },
    h('span', {}, 'The patient has not agreed to recording in the app. Record only if they agreed aloud.'),
    h('button', { type: 'button', dataset: { testid: 'record-verbal' }, onclick: () => void startRecording(true) }, 'They agreed aloud: start recording'),
    h('button', { type: 'button', class: 'secondary', onclick: () => (recordConfirm.hidden = true) }, 'Cancel'),
  );
  const consentYes = h('button', { type: 'button', dataset: { testid: 'consent-yes' }, onclick: () => void consent(true) }, 'Yes, record');
  const consentQuestion = h('p', { id: 'consent-q', dataset: { testid: 'consent-question' } });
  const consentDialog = h(
    'div',
    { class: 'dialog', role: 'alertdialog', 'aria-modal': 'false', 'aria-labelledby': 'consent-q', dataset: { testid: 'consent-dialog' }, hidden: true },
    consentQuestion,
    h('div', { class: 'row' }, consentYes, h('button', { type: 'button', class: 'secondary', dataset: { testid: 'consent-no' }, onclick: () => void consent(false) }, 'No')),
  );

  const el = h(
    'section',
    { class: 'call', 'aria-labelledby': 'call-heading', dataset: { testid: 'call-view' }, hidden: true },
    h('header', { class: 'row spread' }, h('div', {}, title, phase), h('div', { class: 'row' }, recording, quality)),
    suggestion,
    recordConfirm,
    consentDialog,
    h('div', { class: 'stage' }, remotes, waiting, localVideo),
    h('div', { class: 'controls', role: 'toolbar', 'aria-label': 'Call controls' }, muteButton, cameraButton, screenButton, audioOnlyButton, recordButton, endButton),
  );

  // ---- actions ---------------------------------------------------------------------------

  async function shareScreen() {
    try {
      if (client.state.local.screenShareEnabled) await client.stopScreenShare();
      else await client.startScreenShare();
    } catch (err) {
      announce(`Screen sharing did not start: ${err.message}`);
    }
  }

  async function audioOnly() {
    suggestion.hidden = true;
    await client.switchToAudioOnly();
    announce('Switched to audio only. Your camera is off for the rest of the call.');
  }

  async function endCall() {
    endButton.disabled = true;
    try {
      await client.endCall();
    } catch (err) {
      announce(`Could not end the call: ${err.message}`);
    } finally {
      endButton.disabled = false;
    }
  }

  async function toggleRecording() {
    const { callId, recording: rec } = client.state;
    if (!callId) return;
    try {
      if (rec) await client.stopRecording(callId, rec.recordingId);
      else await startRecording(false);
    } catch (err) {
      announce(`Recording: ${err.message}`);
    }
  }

  async function startRecording(attestVerbal) {
    const { callId } = client.state;
    const others = Object.keys(client.state.participants);
    recordConfirm.hidden = true;
    try {
      // Pressing Record is the provider's own consent; a spoken yes of the others is attested
      // only after the provider confirms it (recorded as method `verbal`).
      const body = attestVerbal
        ? { consentObtained: true, consentedParticipants: [client.userId, ...others], consentMethod: 'verbal' }
        : { consentObtained: true, consentedParticipants: [client.userId], consentMethod: 'in-app' };
      await client.startRecording(callId, body);
    } catch (err) {
      if (err.status === 409 && String(err.problem?.type ?? '').includes('consent-missing')) {
        recordConfirm.hidden = false;
        announce('Recording needs the patient’s consent.');
      } else {
        announce(`Recording did not start: ${err.message}`);
      }
    }
  }

  /**
   * The recording this person should be asked about, or null. Asked when the server requests
   * it (no consent on record), and — for patients — whenever a recording starts and they
   * have not answered in the app yet, even if their provider attested a spoken yes: the
   * patient's own answer is recorded (method `in-app`) and a no withdraws it at once.
   */
  function consentToAsk(state) {
    if (state.consentRequested) return state.consentRequested;
    if (role === 'patient' && state.recording && state.recordingConsent == null) return state.recording.recordingId;
    return null;
  }

  async function consent(yes) {
    answeredConsent = consentToAsk(client.state);
    consentDialog.hidden = true;
    try {
      await client.setRecordingConsent(client.state.callId, yes);
      announce(yes ? 'You agreed to recording.' : 'You declined recording. Your media is not recorded.');
    } catch (err) {
      announce(`Could not send your answer: ${err.message}`);
    }
  }

  // ---- remote tiles ------------------------------------------------------------------------

  function tile(userId) {
    let t = tiles.get(userId);
    if (t) return t;
    const video = h('video', { autoplay: true, playsInline: true, 'aria-label': `${otherName}'s video`, dataset: { testid: 'remote-video', userId } });
    const badges = h('p', { class: 'badges', dataset: { testid: 'remote-media-state' } });
    const off = h('div', { class: 'camera-off', 'aria-hidden': 'true' }, 'Camera off');
    const tileEl = h('figure', { class: 'tile', dataset: { testid: 'remote-tile', userId } }, video, off, h('figcaption', {}, otherName, badges));
    remotes.append(tileEl);
    t = { el: tileEl, video, badges };
    tiles.set(userId, t);
    attach(t, streams.get(userId));
    return t;
  }

  function attach(t, stream) {
    if (!stream || t.video.srcObject === stream) return;
    t.video.srcObject = stream;
    t.video.play().catch(() => undefined);
  }

  function dropTile(userId) {
    const t = tiles.get(userId);
    if (!t) return;
    t.video.srcObject = null;
    t.el.remove();
    tiles.delete(userId);
  }

  client.on('local-stream', (stream) => {
    localVideo.srcObject = stream;
  });
  client.on('remote-stream', ({ userId, stream }) => {
    streams.set(userId, stream);
    attach(tile(userId), stream);
    update(client.state);
  });
  client.on('remote-stream-removed', ({ userId }) => {
    streams.delete(userId);
    // Keep the tile while they may come back; drop it when they left for good.
    if (!client.state.participants[userId]) dropTile(userId);
  });

  // ---- render --------------------------------------------------------------------------------

  function update(state) {
    const audio = state.callType === 'audio' || state.audioOnly;
    title.textContent = `${state.callType === 'audio' ? 'Audio' : 'Video'} call`;
    phase.textContent = PHASE_TEXT[state.phase] ?? '';
    el.dataset.phase = state.phase;
    el.classList.toggle('audio', audio);

    for (const userId of [...tiles.keys()]) if (!state.participants[userId] && !streams.has(userId)) dropTile(userId);
    for (const p of Object.values(state.participants)) {
      const t = tile(p.userId);
      t.el.dataset.audio = p.audioEnabled ? 'on' : 'off';
      t.el.dataset.video = p.videoEnabled ? 'on' : 'off';
      t.el.dataset.screen = p.screenShareEnabled ? 'on' : 'off';
      t.el.dataset.connection = p.disconnected ? 'dropped' : 'connected';
      const notes = [];
      if (p.disconnected) notes.push('connection lost');
      if (!p.audioEnabled) notes.push('microphone off');
      if (!p.videoEnabled) notes.push('camera off');
      if (p.screenShareEnabled) notes.push('sharing screen');
      t.badges.textContent = notes.length ? ` — ${notes.join(', ')}` : '';
    }
    waiting.hidden = tiles.size > 0;
    waiting.textContent = state.phase === 'reconnecting' ? 'Reconnecting…' : 'Waiting for the other side…';

    const { audioEnabled, videoEnabled, screenShareEnabled } = state.local;
    setPressed(muteButton, !audioEnabled, audioEnabled ? 'Mute microphone' : 'Unmute microphone');
    setPressed(cameraButton, !videoEnabled, videoEnabled ? 'Turn camera off' : 'Turn camera on');
    setPressed(screenButton, screenShareEnabled, screenShareEnabled ? 'Stop sharing' : 'Share screen');
    cameraButton.disabled = audio;
    screenButton.disabled = audio;
    audioOnlyButton.disabled = audio;
    audioOnlyButton.setAttribute('aria-pressed', String(state.audioOnly));
    localVideo.hidden = audio;

    if (state.quality) {
      const level = qualityLevel(state.quality.metrics);
      quality.dataset.level = level;
      quality.textContent = `Connection: ${level}`;
      if (level !== lastQualityLevel && level === 'poor') announce('Your connection is poor.');
      lastQualityLevel = level;
    } else {
      quality.dataset.level = 'unknown';
      quality.textContent = 'Connection: measuring…';
    }
    recording.hidden = !state.recording;
    recording.dataset.recordingId = state.recording?.recordingId ?? '';
    setPressed(recordButton, Boolean(state.recording), state.recording ? 'Stop recording' : 'Start recording');
    const ask = consentToAsk(state);
    const asking = Boolean(ask && ask !== answeredConsent);
    if (asking && consentDialog.hidden) {
      consentQuestion.textContent = state.consentRequested
        ? 'This call is being recorded, but your consent is not on record, so you are not being recorded. Do you agree to be recorded?'
        : 'Your provider is recording this call. Do you agree to be recorded?';
      announce('Recording: your consent is asked.');
    }
    consentDialog.hidden = !asking;
  }

  function showSuggestion() {
    suggestion.hidden = false;
  }

  function reset() {
    streams.clear();
    for (const userId of [...tiles.keys()]) dropTile(userId);
    localVideo.srcObject = null;
    suggestion.hidden = true;
    recordConfirm.hidden = true;
    answeredConsent = null;
    lastQualityLevel = null;
  }

  return { el, update, reset, showSuggestion, focus: () => muteButton.focus() };
}
