// The in-call screen: remote and local video, the controls (mute, camera, devices, screen
// share, audio-only, recording, end call), the call timer, the connection and recording
// indicators, and the notices (weak connection, camera not available, you are sharing your
// screen). It is built once and updated from the SDK's state, so video elements survive every
// re-render. On a phone the video takes the screen and the controls sit at the bottom.
import { h, toggle, setPressed, clock } from './dom.js';
import { qualityLevel } from '/assets/vytalcall-client.js';
import { deviceMenu, switchDevice, applySpeaker } from './media.js';
import { recordingParts } from './recording.js';
import { nameIn, nameOr, otherNameIn } from './people.js';

/** Phones cannot share their screen from a browser; neither can a browser without the API. */
export const canShareScreen = () =>
  typeof navigator.mediaDevices?.getDisplayMedia === 'function' && !matchMedia('(pointer: coarse)').matches && !/Android|iPhone|iPad|Mobile/i.test(navigator.userAgent);

/** `onEnd()` hangs up (the app decides between ending and cancelling a ringing call). */
export function callView({ client, role, config, say, fail, onEnd, onSendBack, waitingPanel = null }) {
  // The other person's name (or role word) in the current state; `context.otherName` is
  // what the page knew before the call (the patient picked, the caller who rang).
  const other = (state, opts = { capital: true }) => nameOr(otherNameIn(state) ?? context.otherName, role, opts);
  const nameOf = (userId) => nameOr(nameIn(client.state, userId) ?? context.otherName, role, { capital: true });
  const tiles = new Map(); // userId -> { el, video, badges }
  // Remote media can arrive before the state lists its sender (the offer may overtake
  // `participant-joined`): streams are kept apart from tiles so that no render drops one.
  const streams = new Map(); // userId -> MediaStream
  let lastQualityLevel = null;
  let context = { outgoingRinging: false, connectedSince: null, otherName: null, hasWaitingRoom: false };
  const host = role === 'provider' || role === 'admin';

  const title = h('h2', { id: 'call-heading', tabindex: '-1', dataset: { testid: 'call-title' } }, 'Call');
  const phase = h('p', { class: 'phase', dataset: { testid: 'call-phase' } });
  const timer = h('span', { class: 'timer', dataset: { testid: 'call-timer' }, hidden: true, role: 'timer', 'aria-label': 'Call length' });
  const quality = h('span', { class: 'indicator quality', dataset: { testid: 'quality', level: 'unknown' }, title: 'Connection quality', hidden: true }, 'Connection: measuring…');
  const rec = recordingParts({ client, role, config, say, fail });
  const remotes = h('div', { class: 'remotes', dataset: { testid: 'remote-videos' } });
  const waiting = h('div', { class: 'placeholder', dataset: { testid: 'remote-placeholder' } }, 'Waiting for the other side…');
  const localVideo = h('video', { class: 'local', autoplay: true, muted: true, playsInline: true, 'aria-label': 'Your camera', dataset: { testid: 'local-video' } });
  localVideo.muted = true;

  const muteButton = toggle('Mute microphone', 'toggle-mute', () => client.setMuted(client.state.local.audioEnabled));
  const cameraButton = toggle('Turn camera off', 'toggle-camera', () => client.setCameraEnabled(!client.state.local.videoEnabled));
  const screenButton = toggle('Share screen', 'toggle-screen', () => void shareScreen());
  const audioOnlyButton = h('button', { type: 'button', class: 'control', 'aria-label': 'Switch to audio only', dataset: { testid: 'audio-only' }, onclick: () => void audioOnly() }, 'Audio only');
  const devices = deviceMenu({ onChange: (kind, id) => changeDevice(kind, id) });
  const devicesButton = h('button', { type: 'button', class: 'control', 'aria-expanded': 'false', 'aria-controls': 'device-menu', dataset: { testid: 'toggle-devices' } }, 'Devices');
  devicesButton.addEventListener('click', async () => {
    const open = devices.panel.hidden;
    if (open) await devices.refresh();
    devices.panel.hidden = !open;
    devicesButton.setAttribute('aria-expanded', String(open));
    if (open) devices.panel.querySelector('select')?.focus();
  });
  devices.panel.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    devices.panel.hidden = true;
    devicesButton.setAttribute('aria-expanded', 'false');
    devicesButton.focus();
  });
  const endButton = h('button', { type: 'button', class: 'control danger', dataset: { testid: 'end-call' }, onclick: () => void endCall() }, 'End call');

  const suggestion = h(
    'div',
    { class: 'banner', dataset: { testid: 'audio-only-suggestion' }, hidden: true },
    h('span', {}, 'Your connection is weak. Switching to audio only may help.'),
    h('button', { type: 'button', onclick: () => void audioOnly() }, 'Switch to audio only'),
    h('button', { type: 'button', class: 'secondary', onclick: () => (suggestion.hidden = true) }, 'Dismiss'),
  );
  const cameraLostText = h('span', {});
  const cameraLost = h('div', { class: 'banner', role: 'status', dataset: { testid: 'camera-lost' }, hidden: true }, cameraLostText, h('button', { type: 'button', class: 'secondary', onclick: () => (cameraLost.hidden = true) }, 'OK'));
  const sharing = h(
    'div',
    { class: 'banner sharing', role: 'status', dataset: { testid: 'sharing-notice' }, hidden: true },
    h('span', {}, 'You are sharing your screen. Everyone in the call can see it.'),
    h('button', { type: 'button', onclick: () => void shareScreen() }, 'Stop sharing'),
  );

  const el = h(
    'section',
    { class: 'call', 'aria-labelledby': 'call-heading', dataset: { testid: 'call-view' }, hidden: true },
    h('header', { class: 'call-top' }, h('div', { class: 'call-title' }, title, phase), h('div', { class: 'row indicators' }, timer, rec.indicator, quality)),
    // Focusable: when the notices outgrow their space they scroll, and a keyboard must reach them.
    h('div', { class: 'notices', tabindex: '0', role: 'region', 'aria-label': 'Notices' }, suggestion, cameraLost, sharing, rec.recordConfirm, rec.consentDialog, rec.answers, waitingPanel),
    h('div', { class: 'stage' }, remotes, waiting, localVideo),
    devices.panel,
    h('div', { class: 'controls', role: 'toolbar', 'aria-label': 'Call controls' }, muteButton, cameraButton, devicesButton, screenButton, audioOnlyButton, rec.recordButton, rec.consentSwitch, endButton),
  );

  // ---- actions ---------------------------------------------------------------------------

  async function shareScreen() {
    try {
      if (client.state.local.screenShareEnabled) await client.stopScreenShare();
      else await client.startScreenShare();
    } catch (err) {
      fail(err, 'Screen sharing did not start.');
    }
  }

  async function audioOnly() {
    suggestion.hidden = true;
    await client.switchToAudioOnly();
    say('Switched to audio only. Your camera is off for the rest of the call.');
  }

  async function changeDevice(kind, id) {
    try {
      if (kind === 'speaker') for (const t of tiles.values()) applySpeaker(t.video);
      else await switchDevice(client, kind, id);
      say(`${kind === 'camera' ? 'Camera' : kind === 'microphone' ? 'Microphone' : 'Speaker'} changed.`);
    } catch (err) {
      fail(err, `That ${kind} could not be used. The call goes on with the one you had.`);
    }
  }

  async function endCall() {
    endButton.disabled = true;
    try {
      await onEnd();
    } finally {
      endButton.disabled = false;
    }
  }

  // ---- remote tiles ------------------------------------------------------------------------

  function tile(userId) {
    let t = tiles.get(userId);
    if (t) return t;
    const who = nameOf(userId);
    const video = h('video', { autoplay: true, playsInline: true, 'aria-label': `${who}’s video`, dataset: { testid: 'remote-video', userId } });
    applySpeaker(video);
    const badges = h('span', { class: 'badges', dataset: { testid: 'remote-media-state' } });
    const avatar = h('span', { class: 'avatar' }, who);
    const off = h('div', { class: 'camera-off', 'aria-hidden': 'true' }, avatar, h('span', { class: 'off-note' }, 'Camera off'));
    const caption = h('span', { dataset: { testid: 'remote-name' } }, who);
    // Providers may send a patient (or guest) back to the visit's waiting room.
    const sendBack = h('button', { type: 'button', class: 'send-back secondary', dataset: { testid: 'send-back', userId }, hidden: true }, 'Send back to waiting room');
    sendBack.addEventListener('click', async () => {
      sendBack.disabled = true;
      try {
        await onSendBack?.(userId, nameOf(userId));
      } finally {
        sendBack.disabled = false;
      }
    });
    const tileEl = h('figure', { class: 'tile', dataset: { testid: 'remote-tile', userId } }, video, off, h('figcaption', {}, caption, badges), sendBack);
    remotes.append(tileEl);
    t = { el: tileEl, video, badges, off, avatar, caption, sendBack };
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

  function phaseText(state) {
    if (state.phase === 'joining') return 'Connecting…';
    if (state.phase === 'reconnecting') return 'Your connection dropped. Reconnecting…';
    if (state.phase === 'waiting' && context.outgoingRinging) return `Calling ${other(state, {})}… It is ringing${role === 'patient' ? '' : ' on their devices'}.`;
    if (state.phase === 'waiting') return `Waiting for ${other(state, {})} to join…`;
    if (state.phase === 'connected') return `Connected with ${other(state, {})}`;
    return '';
  }

  function update(state, ctx = context) {
    context = ctx;
    // Our stream outlives a stay in the waiting room (sent back, admitted again): show it again.
    if (!localVideo.srcObject && client.local) localVideo.srcObject = client.local;
    const audio = state.callType === 'audio' || state.audioOnly;
    title.textContent = `${state.callType === 'audio' ? 'Audio' : 'Video'} call`;
    phase.textContent = phaseText(state);
    el.dataset.phase = state.phase;
    el.dataset.ringing = String(Boolean(context.outgoingRinging));
    // Remote video is hidden only in an audio call; sending no video ourselves changes nothing.
    el.classList.toggle('audio', state.callType === 'audio');

    for (const userId of [...tiles.keys()]) if (!state.participants[userId] && !streams.has(userId)) dropTile(userId);
    for (const p of Object.values(state.participants)) {
      const t = tile(p.userId);
      const who = nameOf(p.userId);
      if (t.caption.textContent !== who) {
        t.caption.textContent = t.avatar.textContent = who;
        t.video.setAttribute('aria-label', `${who}’s video`);
      }
      const theirRole = state.roles?.[p.userId];
      t.sendBack.hidden = !(host && context.hasWaitingRoom && theirRole !== 'provider' && theirRole !== 'admin');
      t.sendBack.setAttribute('aria-label', `Send ${who} back to the waiting room`);
      t.el.dataset.audio = p.audioEnabled ? 'on' : 'off';
      t.el.dataset.video = p.videoEnabled ? 'on' : 'off';
      t.el.dataset.screen = p.screenShareEnabled ? 'on' : 'off';
      t.el.dataset.connection = p.disconnected ? 'dropped' : 'connected';
      t.off.querySelector('.off-note').textContent = state.callType === 'audio' ? 'Sound only' : 'Camera off';
      const notes = [];
      if (p.disconnected) notes.push('connection lost');
      if (!p.audioEnabled) notes.push('microphone off');
      if (!p.videoEnabled && state.callType !== 'audio') notes.push('camera off');
      if (p.screenShareEnabled) notes.push('sharing screen');
      t.badges.textContent = notes.length ? ` — ${notes.join(', ')}` : '';
    }
    waiting.hidden = tiles.size > 0;
    waiting.textContent = state.phase === 'reconnecting' ? 'Reconnecting…' : context.outgoingRinging ? 'Ringing…' : `Waiting for ${other(state, {})}…`;

    const { audioEnabled, videoEnabled, screenShareEnabled } = state.local;
    setPressed(muteButton, !audioEnabled, audioEnabled ? 'Mute microphone' : 'Unmute microphone');
    setPressed(cameraButton, !videoEnabled, videoEnabled ? 'Turn camera off' : 'Turn camera on');
    setPressed(screenButton, screenShareEnabled, screenShareEnabled ? 'Stop sharing' : 'Share screen');
    cameraButton.hidden = audio;
    screenButton.hidden = audio || !canShareScreen();
    audioOnlyButton.hidden = audio;
    audioOnlyButton.setAttribute('aria-pressed', String(state.audioOnly));
    localVideo.hidden = audio;
    sharing.hidden = !screenShareEnabled;
    devices.lists.camera.disabled = audio || screenShareEnabled;
    endButton.textContent = context.outgoingRinging ? 'Hang up' : 'End call';
    endButton.setAttribute('aria-label', context.outgoingRinging ? 'Hang up: stop calling' : 'End call for everyone');

    const connected = state.phase === 'connected';
    quality.hidden = !connected;
    if (state.quality) {
      const level = qualityLevel(state.quality.metrics);
      quality.dataset.level = level;
      quality.textContent = `Connection: ${level}`;
      if (level !== lastQualityLevel && level === 'poor' && connected) say('Your connection is poor.');
      lastQualityLevel = level;
    } else {
      quality.dataset.level = 'unknown';
      quality.textContent = 'Connection: measuring…';
    }
    timer.hidden = !context.connectedSince;
    tick();
    rec.update(state, ['joining', 'waiting', 'connected', 'reconnecting'].includes(state.phase));
  }

  function tick() {
    if (!context.connectedSince) return;
    const seconds = (Date.now() - context.connectedSince) / 1000;
    timer.textContent = clock(seconds);
  }
  setInterval(tick, 1000);

  function showSuggestion() {
    suggestion.hidden = false;
  }

  function showCameraLost(text) {
    cameraLostText.textContent = `${text} You can still see and hear the others.`;
    cameraLost.hidden = false;
  }

  function reset() {
    streams.clear();
    for (const userId of [...tiles.keys()]) dropTile(userId);
    localVideo.srcObject = null;
    suggestion.hidden = true;
    cameraLost.hidden = true;
    devices.panel.hidden = true;
    devicesButton.setAttribute('aria-expanded', 'false');
    rec.reset();
    lastQualityLevel = null;
  }

  return { el, update, reset, showSuggestion, showCameraLost, focus: () => title.focus() };
}
