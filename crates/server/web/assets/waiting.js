// The patient's waiting room: where they wait until their provider lets them in (their
// place, whether the provider is there, the provider's messages), with a check of their
// camera, microphone, speaker and connection meanwhile. The result of the check goes to the
// providers (`device-check`), who see it beside the person's name. Admitted, the person goes
// straight into the call (the app shows the call screen). Everything is said in plain words;
// the server's codes never reach the screen.
import { h, shortTime } from './dom.js';
import { listen, measureRtt, relayReachable, playTestSound, resultWords } from './devicecheck.js';

/** `{ el, update(state, ctx), enter(), leave(), focus() }`; `onLeave()` leaves the waiting room. */
export function waitingScreen({ client, say, onLeave }) {
  let context = { otherName: null };
  const heading = h('h2', { id: 'waiting-room-heading', tabindex: '-1', dataset: { testid: 'waiting-room-heading' } }, 'You are in the waiting room');
  const intro = h('p', { dataset: { testid: 'waiting-intro' } });
  const place = h('p', { class: 'waiting-place', dataset: { testid: 'waiting-place' } });
  const provider = h('p', { class: 'waiting-provider', dataset: { testid: 'waiting-provider', present: 'false' } });
  const reconnecting = h('p', { class: 'banner', role: 'status', dataset: { testid: 'waiting-reconnecting' }, hidden: true }, 'Your connection dropped. Reconnecting… You keep your place.');
  // New messages are announced through the page's status line (see the `message` listener).
  const messageList = h('ul', { class: 'waiting-messages', dataset: { testid: 'waiting-messages' } });
  const messages = h(
    'section',
    { class: 'waiting-notes', 'aria-labelledby': 'waiting-messages-heading', hidden: true },
    h('h3', { id: 'waiting-messages-heading' }, 'Messages from your provider'),
    messageList,
  );
  const leaveButton = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'leave-waiting-room' } }, 'Leave the waiting room');
  leaveButton.addEventListener('click', async () => {
    leaveButton.disabled = true;
    try {
      await onLeave();
    } finally {
      leaveButton.disabled = false;
    }
  });

  // ---- the device check ----
  const preview = h('video', { class: 'preview', autoplay: true, muted: true, playsInline: true, 'aria-label': 'Your camera, as your provider will see it', dataset: { testid: 'waiting-preview' } });
  preview.muted = true;
  const noPreview = h('div', { class: 'preview placeholder', hidden: true }, 'No camera picture');
  const meter = h('meter', { id: 'mic-level', min: 0, max: 1, low: 0.05, value: 0, dataset: { testid: 'mic-level' } });
  const rows = {};
  const results = { camera: 'checking', microphone: 'checking', speaker: 'unavailable', network: 'checking' };
  let network = { result: 'unavailable', rttMs: null, turn: null };
  for (const [kind, label] of [
    ['camera', 'Camera'],
    ['microphone', 'Microphone'],
    ['speaker', 'Speaker'],
    ['network', 'Connection'],
  ]) {
    const text = h('span', { class: 'check-text' });
    const mark = h('span', { class: 'check-mark', 'aria-hidden': 'true' });
    const row = h('li', { class: 'check', dataset: { testid: `check-${kind}`, result: 'checking' } }, mark, h('span', { class: 'check-label' }, `${label}: `), text);
    rows[kind] = { row, text, mark };
  }
  const soundButton = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'play-test-sound' } }, 'Play a test sound');
  const heardYes = h('button', { type: 'button', dataset: { testid: 'heard-sound' } }, 'I heard it');
  const heardNo = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'not-heard-sound' } }, 'I did not hear it');
  const heardQuestion = h('div', { class: 'row', role: 'group', 'aria-label': 'Did you hear the test sound?', hidden: true }, h('span', {}, 'Did you hear it?'), heardYes, heardNo);
  const againButton = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'check-again' } }, 'Check again');
  rows.microphone.row.append(h('label', { for: 'mic-level', class: 'visually-hidden' }, 'Microphone level'), meter);
  rows.speaker.row.append(h('div', { class: 'row' }, soundButton), heardQuestion);
  const check = h(
    'section',
    { class: 'device-check', 'aria-labelledby': 'device-check-heading', dataset: { testid: 'device-check' } },
    h('h3', { id: 'device-check-heading' }, 'Check your camera, microphone and connection'),
    h('div', { class: 'preview-wrap' }, preview, noPreview),
    h('ul', { class: 'checks' }, Object.values(rows).map((r) => r.row)),
    againButton,
  );

  const el = h(
    'section',
    { class: 'card waiting-room', 'aria-labelledby': 'waiting-room-heading', dataset: { testid: 'waiting-room' }, hidden: true },
    h('div', { class: 'waiting-main' }, heading, intro, place, provider, reconnecting, messages, h('p', { class: 'muted' }, 'Keep this page open. When your provider lets you in, the call starts by itself.'), leaveButton),
    check,
  );

  // ---- checking ----
  let stopListening = null;
  let running = false;
  let sendTimer = null;
  let sentJson = null;

  function show(kind, result, detail, { send = true } = {}) {
    results[kind] = result;
    const r = rows[kind];
    r.row.dataset.result = result;
    r.text.textContent = resultWords(kind, result, detail);
    r.mark.textContent = result === 'ok' ? '✓' : result === 'failed' ? '!' : '…';
    if (send) scheduleSend();
  }
  for (const [kind, result] of Object.entries(results)) show(kind, result, {}, { send: false });

  /** Sends the results once each is known (and again when one changes). */
  function scheduleSend() {
    if (Object.values(results).includes('checking')) return;
    clearTimeout(sendTimer);
    sendTimer = setTimeout(() => void send(), 200);
  }

  async function send() {
    const { phase, callId } = client.state;
    if (phase !== 'waiting-room' || !callId) return;
    const body = { camera: results.camera, microphone: results.microphone, speaker: results.speaker, network };
    const json = JSON.stringify([callId, body]);
    if (json === sentJson) return;
    try {
      await client.deviceCheck(body, callId);
      sentJson = json;
    } catch (err) {
      console.warn('device-check was not sent', err);
    }
  }

  async function run() {
    if (running) return;
    running = true;
    try {
      stopListening?.();
      // On the way in, the camera and microphone are being opened: wait for them.
      for (const end = Date.now() + 30000; !client.local && Date.now() < end && !el.hidden; ) await new Promise((r) => setTimeout(r, 200));
      const stream = client.local;
      const video = stream?.getVideoTracks().find((t) => t.readyState === 'live');
      const wantsVideo = client.state.callType !== 'audio';
      preview.srcObject = video ? stream : null;
      preview.hidden = !video;
      noPreview.hidden = Boolean(video) || !wantsVideo;
      if (!video) show('camera', wantsVideo ? 'failed' : 'unavailable');
      else {
        show('camera', 'checking');
        preview.play().catch(() => undefined);
        // Pictures arrive: the camera works.
        const start = Date.now();
        while (!preview.videoWidth && Date.now() - start < 8000 && !el.hidden) await new Promise((r) => setTimeout(r, 200));
        show('camera', preview.videoWidth ? 'ok' : 'failed');
      }
      show('microphone', 'checking');
      stopListening = listen(stream, { onLevel: (v) => (meter.value = v), onResult: (r) => show('microphone', r) });
      show('network', 'checking');
      try {
        const [rttMs, turn] = await Promise.all([measureRtt(), client.fetchIceServers().then((servers) => relayReachable(servers))]);
        network = { result: rttMs > 1500 ? 'failed' : 'ok', rttMs, turn };
      } catch (err) {
        console.warn('connection check failed', err);
        network = { result: 'failed', rttMs: null, turn: null };
      }
      show('network', network.result, network);
    } finally {
      running = false;
    }
  }

  soundButton.addEventListener('click', async () => {
    try {
      await playTestSound();
      heardQuestion.hidden = false;
      heardYes.focus();
    } catch (err) {
      console.warn('test sound failed', err);
      show('speaker', 'failed');
    }
  });
  heardYes.addEventListener('click', () => {
    heardQuestion.hidden = true;
    show('speaker', 'ok');
    soundButton.focus();
  });
  heardNo.addEventListener('click', () => {
    heardQuestion.hidden = true;
    show('speaker', 'failed');
    soundButton.focus();
  });
  againButton.addEventListener('click', () => {
    sentJson = null;
    void run();
  });

  // ---- render ----
  function placeWords(position) {
    if (!position || position <= 1) return 'You are next in line.';
    const ahead = position - 1;
    return `There ${ahead === 1 ? 'is 1 person' : `are ${ahead} people`} ahead of you.`;
  }

  let shownMessages = 0;
  function update(state, ctx = context) {
    context = ctx;
    const wr = state.waitingRoom;
    const who = context.otherName || 'your provider';
    const Who = context.otherName || 'Your provider';
    intro.textContent = `Your ${state.callType === 'audio' ? 'audio' : 'video'} visit with ${who} starts when they let you in.`;
    if (!wr) {
      // On the way in (join-call not answered yet).
      place.textContent = 'Taking you to the waiting room…';
      provider.hidden = true;
      return;
    }
    provider.hidden = false;
    place.textContent = placeWords(wr.position);
    provider.textContent = wr.providerPresent ? `${Who} is here and will let you in shortly.` : `${Who} has not joined yet.`;
    provider.dataset.present = String(wr.providerPresent);
    // Results found on the way in are sent once we are seated.
    if (state.phase === 'waiting-room') scheduleSend();
    reconnecting.hidden = state.phase !== 'reconnecting';
    const list = wr.messages ?? [];
    if (list.length < shownMessages) {
      messageList.replaceChildren();
      shownMessages = 0;
    }
    for (const m of list.slice(shownMessages)) {
      messageList.append(h('li', { dataset: { testid: 'waiting-message' } }, h('span', { class: 'muted' }, `${shortTime(m.timestamp)} · `), h('span', { class: 'message-text' }, m.text)));
    }
    shownMessages = list.length;
    messages.hidden = list.length === 0;
  }

  /** The page shows the waiting room (again): check the devices. */
  function enter() {
    sentJson = null;
    messageList.replaceChildren();
    shownMessages = 0;
    void run();
  }

  /** The page leaves the waiting room (admitted, left, ended): stop listening. */
  function leave() {
    stopListening?.();
    stopListening = null;
    clearTimeout(sendTimer);
    preview.srcObject = null;
    heardQuestion.hidden = true;
  }

  client.on('message', (e) => {
    if (e.callId === client.state.callId && client.state.phase === 'waiting-room') say(`Message from ${context.otherName || 'your provider'}: ${e.text}`);
  });

  return { el, update, enter, leave, focus: () => heading.focus() };
}
