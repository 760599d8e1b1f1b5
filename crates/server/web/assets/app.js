// vytalcall web app: plain ES modules, no framework, no build step. Only the client SDK is a
// bundle (`/assets/vytalcall-client.js`). The page renders from the SDK's call state; the
// modules are: session (token), screens (header, messages, sign-in, start form, end of
// visit), calls (list), incoming (ringing), call (in-call screen), recording, media (devices).
import { VytalcallClient } from '/assets/vytalcall-client.js';
import { h } from './dom.js';
import { currentSession, signOut, activeCall } from './session.js';
import { callsPanel } from './calls.js';
import { incomingView } from './incoming.js';
import { callView } from './call.js';
import { getUserMediaFor, MediaProblem } from './media.js';
import { loadConfig, messages, header, signInScreen, startCallForm, endOfVisit } from './screens.js';
import { otherNameIn, roleWord } from './people.js';
import { waitingScreen } from './waiting.js';
import { waitingQueue } from './queue.js';

const IN_CALL = new Set(['joining', 'waiting', 'connected', 'reconnecting']);
/** Waiting in a visit's waiting room (also while reconnecting from there), not in the call. */
const inWaitingRoom = (state) => state.phase === 'waiting-room' || (state.phase === 'reconnecting' && Boolean(state.waitingRoom));
const root = document.getElementById('app');

/**
 * What ended a call, in words for this person; `mine` is what this page did itself, `name`
 * the other person's name (null: their role word).
 */
function endSummary(role, reason, mine, wasConnected, name) {
  const other = name || roleWord(role, { capital: true });
  if (mine === 'hung-up') return { title: 'Call cancelled', reason: `You hung up before ${name || 'your patient'} answered.` };
  if (mine === 'ended') return { title: 'Your visit has ended', reason: 'You ended the call.' };
  if (mine === 'left') return { title: 'You left the call', reason: 'You left the call.' };
  if (mine === 'left-waiting') return { title: 'You left the waiting room', reason: 'You left the waiting room before your visit started. You can join it again from your visits.' };
  if (reason === 'Declined') return { title: 'Call declined', reason: role === 'patient' ? 'You declined the call.' : `${other} declined the call.` };
  if (reason === 'no answer') return { title: 'No answer', reason: role === 'patient' ? `You missed a call from ${name || 'your provider'}.` : `${other} did not answer. You can try again later.` };
  if (reason === 'Hung up before answer') return { title: 'Call cancelled', reason: `${other} hung up before the call was answered.` };
  if (wasConnected) return { title: 'Your visit has ended', reason: `${other} ended the call.` };
  return { title: 'The call has ended', reason: `${other} ended the call before it connected.` };
}

async function main() {
  const config = await loadConfig();
  document.title = config.clinicName;
  const msg = messages();
  const session = currentSession();
  if (!session.token) {
    root.replaceChildren(header(config), h('main', { class: 'page' }, signInScreen(config, session.problem && `${session.problem} Contact ${config.clinicName} for a new link.`)));
    return;
  }
  const { claims } = session;
  const role = claims.role;
  // The other person of the current call by name, else by role word ("Your provider").
  let otherName = null;
  const other = (opts = { capital: true }) => otherNameIn(client.state) || otherName || roleWord(role, opts);
  let cameraLost = null;
  const client = new VytalcallClient({
    token: session.token,
    deviceId: session.deviceId,
    getUserMedia: getUserMediaFor((text) => (cameraLost = text)),
  });
  document.body.dataset.role = role;

  // What this page knows beyond the SDK's state: a call it placed that has not been
  // answered yet, what it did to end a call, and when the call connected.
  let outgoing = null; // { callId, answered, name }
  let mine = null; // 'ended' | 'hung-up' | 'left' | 'left-waiting'
  let declinedHere = null;
  let connectedSince = null;
  let expiredOnce = false;
  let poll = null;

  function expired() {
    if (expiredOnce) return;
    expiredOnce = true;
    clearInterval(poll);
    void client.close().catch(() => undefined);
    signOut();
    root.replaceChildren(header(config), h('main', { class: 'page' }, signInScreen(config, `Your session has ended. Open the link from ${config.clinicName} again, or contact them for a new one.`)));
    document.title = `Signed out · ${config.clinicName}`;
  }

  function fail(err, message) {
    if (err?.status === 401) return expired();
    msg.fail(err, message);
  }

  const mediaProblemText = h('p', { dataset: { testid: 'media-problem-text' } });
  const retry = h('button', { type: 'button', dataset: { testid: 'media-retry' } }, 'Try again');
  const giveUp = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'media-give-up' } }, 'Not now');
  const mediaProblem = h(
    'section',
    { class: 'card media-problem', role: 'region', 'aria-labelledby': 'media-problem-heading', dataset: { testid: 'media-problem' }, hidden: true },
    h('h2', { id: 'media-problem-heading', tabindex: '-1' }, 'Your microphone is needed'),
    mediaProblemText,
    h('div', { class: 'row' }, retry, giveUp),
  );
  let pendingJoin = null;
  retry.addEventListener('click', () => {
    mediaProblem.hidden = true;
    if (pendingJoin) void join(...pendingJoin);
  });
  giveUp.addEventListener('click', async () => {
    mediaProblem.hidden = true;
    const [callId] = pendingJoin ?? [];
    pendingJoin = null;
    if (callId) await cancelCall(callId, outgoing?.callId === callId ? 'Hung up before answer' : 'Declined').catch(() => undefined);
    void calls.refresh();
  });

  async function cancelCall(callId, reason) {
    await client.rest('POST', `/calls/${encodeURIComponent(callId)}/cancel`, { reason });
  }

  async function join(callId, callType, consent = null) {
    cameraLost = null;
    mine = null;
    msg.clearProblem();
    try {
      activeCall.set(callId);
      const reply = await client.join(callId, { callType });
      if (cameraLost) {
        await client.switchToAudioOnly();
        if (reply?.waiting) msg.say(cameraLost);
        else inCall.showCameraLost(cameraLost);
      }
      if (consent !== null) {
        await client.setRecordingConsent(callId, consent).catch((err) => fail(err, 'Your answer about recording could not be sent. You can change it in the call.'));
      }
    } catch (err) {
      activeCall.clear();
      if (err instanceof MediaProblem) {
        pendingJoin = [callId, callType, consent];
        mediaProblemText.textContent = err.message;
        giveUp.textContent = outgoing?.callId === callId ? 'Cancel the call' : 'Decline the call';
        mediaProblem.hidden = false;
        mediaProblem.querySelector('h2').focus();
        return;
      }
      // A call that ended before we got in was announced by call-ended already.
      if (err.code === 'call-ended') {
        void calls.refresh();
        return;
      }
      const gone = /not-joinable|not-found/.test(String(err.code ?? err.message));
      fail(err, gone ? 'This call has already ended.' : 'We could not connect you to the call. Try again in a moment.');
      void calls.refresh();
    }
  }

  async function hangUp() {
    const { callId } = client.state;
    if (!callId) return;
    try {
      if (outgoing?.callId === callId && !outgoing.answered) {
        mine = 'hung-up';
        try {
          await cancelCall(callId, 'Hung up before answer');
        } catch (err) {
          if (err.status !== 409) throw err;
          mine = 'ended'; // answered meanwhile: end it instead
          await client.endCall();
        }
        if (IN_CALL.has(client.state.phase)) await client.leave('cancelled');
      } else {
        mine = 'ended';
        await client.endCall();
      }
    } catch (err) {
      mine = null;
      fail(err, 'The call could not be ended. Try again.');
    }
  }

  async function decline(callId) {
    declinedHere = callId;
    try {
      await cancelCall(callId, 'Declined');
      msg.say('You declined the call.');
    } catch (err) {
      declinedHere = null;
      fail(err, 'The call could not be declined. It may have ended already.');
    }
    void calls.refresh();
  }

  // What the page knows of each call (from the list, creation, or a read): its type, time,
  // whether it has a waiting room, and the patient's name.
  const known = new Map();
  const noteCall = (call) => call?.id && known.set(call.id, { ...known.get(call.id), ...call });
  const describe = (callId) => {
    const call = known.get(callId);
    if (!call && role !== 'patient' && !describing.has(callId)) {
      describing.add(callId);
      client
        .getCall(callId)
        .then((c) => {
          noteCall(c);
          queue.render();
        })
        .catch((err) => console.warn('call could not be read', err));
    }
    return call ? { ...call, type: call.type ?? call.callType } : null;
  };
  const describing = new Set();
  const calls = callsPanel({
    client,
    role,
    onError: fail,
    onJoin: (call) => {
      noteCall(call);
      otherName = (role === 'patient' ? call.providerName : call.patientName) || otherName;
      return join(call.id, call.type ?? call.callType);
    },
    onLoaded: (list) => {
      for (const c of list) noteCall(c);
      if (role !== 'patient') queue.render();
    },
  });
  const incoming = incomingView({ client, role, config, onAccept: (callId, callType, consent) => join(callId, callType, consent), onDecline: decline });
  // ---- the waiting room ----
  /** A provider admits someone from the home screen: into the visit first, then let them in. */
  async function admitFromHome(callId, userId, name) {
    try {
      if (client.state.callId !== callId || !IN_CALL.has(client.state.phase)) {
        const type = describe(callId)?.type;
        otherName = name;
        await join(callId, type);
        if (!IN_CALL.has(client.state.phase)) return; // the join failed (and said why)
      }
      await admit(callId, userId, name);
    } catch (err) {
      fail(err, `${name} could not be admitted. Try again.`);
    }
  }
  async function admit(callId, userId, name) {
    try {
      await client.admit(userId, callId);
      msg.say(`${name} is joining the call.`);
    } catch (err) {
      const full = err.code === 'call-full';
      const gone = err.code === 'not-waiting';
      fail(err, full ? `${name} cannot be admitted: the visit already has as many people as it may hold.` : gone ? `${name} is no longer waiting.` : `${name} could not be admitted. Try again.`);
    }
  }
  async function sendBack(userId, name) {
    const { callId } = client.state;
    if (!callId) return;
    seenWaiting.add(`${callId}/${userId}`); // their return to the queue is announced here
    try {
      await client.sendBack(userId, callId);
      msg.say(`${name} is back in the waiting room. Admit them again when you are ready.`);
    } catch (err) {
      fail(err, `${name} could not be sent back to the waiting room. Try again.`);
    }
  }
  const host = role !== 'patient';
  const queue = waitingQueue({ client, describe, onAdmit: admitFromHome, say: msg.say, fail, idPrefix: 'home-queue' });
  const callQueue = waitingQueue({
    client,
    only: () => client.state.callId,
    describe,
    onAdmit: (callId, userId, name) => admit(callId, userId, name),
    say: msg.say,
    fail,
    compact: true,
    idPrefix: 'call-queue',
  });
  const waitingRoom = waitingScreen({
    client,
    say: msg.say,
    onLeave: async () => {
      mine = 'left-waiting';
      await client.leave('left the waiting room');
    },
  });
  const hasWaitingRoom = (callId) => Boolean(callId && (known.get(callId)?.waitingRoom || client.waitingRooms.has(callId)));

  const inCall = callView({ client, role, config, say: msg.say, fail, onEnd: hangUp, onSendBack: sendBack, waitingPanel: host ? callQueue.el : null });
  const ended = endOfVisit({
    role,
    onDone: () => (role === 'patient' ? document.getElementById('calls-heading') : document.querySelector('[data-testid=start-call-form] input:not([type=hidden])'))?.focus(),
  });
  const startOrWait =
    role === 'patient'
      ? h('section', { class: 'card', 'aria-labelledby': 'waiting-heading', dataset: { testid: 'patient-waiting' } }, h('h2', { id: 'waiting-heading' }, 'Your visits'), h('p', {}, `Keep this page open: when your provider calls, it rings here, on every device where you are signed in.`))
      : startCallForm({
          client,
          prefill: session.prefillPatient,
          say: msg.say,
          fail,
          onStarted: (callId, callType, name) => {
            outgoing = { callId, answered: false, name };
            otherName = name || null;
            return join(callId, callType);
          },
          onOpened: (call) => {
            noteCall(call);
            return refreshLists();
          },
        });
  const refreshLists = () => Promise.all([calls.refresh(), startOrWait.refresh?.()]);
  const home = h(
    'div',
    { class: 'home', dataset: { testid: 'home' } },
    h('div', { class: 'home-main' }, ended.el, mediaProblem, host ? queue.el : null, startOrWait.el ?? startOrWait),
    calls.el,
  );
  const signOutButton = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      dataset: { testid: 'sign-out' },
      onclick: async () => {
        await client.close().catch(() => undefined);
        signOut();
        location.reload();
      },
    },
    'Sign out',
  );
  const who = h('p', { class: 'who', dataset: { testid: 'who' } }, `${claims.name ?? 'Signed in'} · ${role === 'patient' ? 'patient' : role === 'admin' ? 'administrator' : 'provider'}`);
  root.replaceChildren(header(config, who, signOutButton), h('main', { class: 'page' }, msg.el, home, waitingRoom.el, inCall.el, incoming.el));

  let wasInCall = false;
  let wasRinging = false;
  let wasWaiting = false;
  let lastPhase = 'idle';
  function render(state) {
    // A patient joining a visit with a waiting room is on their way there, not into the call.
    const toWaitingRoom = role === 'patient' && state.phase === 'joining' && !state.waitingRoom?.admitted && Boolean(known.get(state.callId)?.waitingRoom);
    const waitingNow = inWaitingRoom(state) || toWaitingRoom;
    const nowInCall = IN_CALL.has(state.phase) && !waitingNow;
    if (outgoing && outgoing.callId === state.callId && state.phase === 'connected') outgoing.answered = true;
    if (state.phase === 'connected' && !connectedSince) connectedSince = Date.now();
    const ringingOut = Boolean(outgoing && outgoing.callId === state.callId && !outgoing.answered && nowInCall);
    home.hidden = nowInCall || waitingNow;
    inCall.el.hidden = !nowInCall;
    waitingRoom.el.hidden = !waitingNow;
    signOutButton.hidden = nowInCall || waitingNow;
    document.body.classList.toggle('in-call', nowInCall);
    if (state.phase === 'ringing' && state.fromName) otherName = state.fromName;
    const named = otherNameIn(state);
    if (named) otherName = named;
    inCall.update(state, { outgoingRinging: ringingOut, connectedSince: nowInCall ? connectedSince : null, otherName, hasWaitingRoom: hasWaitingRoom(state.callId) });
    if (waitingNow) waitingRoom.update(state, { otherName });
    if (host) callQueue.render();
    incoming.update(state);
    const what = nowInCall ? (ringingOut ? 'Calling…' : 'In call') : waitingNow ? 'Waiting room' : state.phase === 'ringing' ? 'Incoming call' : null;
    document.title = what ? `${what} · ${config.clinicName}` : config.clinicName;
    if (waitingNow && !wasWaiting) {
      ended.hide();
      mediaProblem.hidden = true;
      if (wasInCall && ['waiting', 'connected', 'reconnecting'].includes(lastPhase)) {
        // Sent back by the provider: the call screen goes, the waiting room comes back.
        inCall.reset();
        connectedSince = null;
        msg.say(`${other()} moved you back to the waiting room. They will let you in again.`);
      } else if (!toWaitingRoom) msg.say('You are in the waiting room. Your provider will let you in.');
      waitingRoom.enter();
      waitingRoom.focus();
    }
    if (waitingNow && !toWaitingRoom && lastPhase === 'joining' && wasWaiting) msg.say('You are in the waiting room. Your provider will let you in.');
    if (!waitingNow && wasWaiting) waitingRoom.leave();
    if (nowInCall && !wasInCall) {
      ended.hide();
      mediaProblem.hidden = true;
      inCall.focus();
      msg.say(state.phase === 'reconnecting' ? 'Reconnecting to your call…' : ringingOut ? `Calling ${other({})}…` : wasWaiting ? `${other()} let you in. You are joining the call…` : 'You joined the call.');
    }
    if (!nowInCall && !waitingNow && (wasInCall || wasWaiting)) {
      const seconds = connectedSince ? (Date.now() - connectedSince) / 1000 : null;
      const summary = endSummary(role, state.endReason, mine, Boolean(connectedSince), otherName);
      activeCall.clear();
      inCall.reset();
      ended.show({ ...summary, seconds });
      msg.say(`Call ended: ${summary.reason}`);
      outgoing = null;
      mine = null;
      connectedSince = null;
      otherName = null;
    }
    if (wasRinging && state.phase !== 'ringing') {
      if (state.endReason === 'answered on another device') msg.say('The call was answered on another device.');
      else if (state.endReason === 'Declined' && declinedHere !== state.callId) msg.say('The call was declined on another device.');
      else if (state.endReason === 'Hung up before answer') msg.say(`${other()} hung up before you answered.`);
      else if (state.endReason === 'no answer') msg.say(`You missed a call from ${other({})}.`);
      if (!IN_CALL.has(state.phase)) otherName = null;
    }
    if (state.phase === 'ringing' && !wasRinging) msg.say(`Incoming ${state.callType === 'audio' ? 'audio' : 'video'} call.`);
    // Lists go stale when a call stops ringing or ends: refresh them at once.
    if ((wasRinging && state.phase !== 'ringing') || (!nowInCall && wasInCall)) void refreshLists();
    wasInCall = nowInCall;
    wasWaiting = waitingNow;
    lastPhase = state.phase;
    wasRinging = state.phase === 'ringing';
  }
  client.on('state', render);

  // Each person by the name the server sent with them, else by role word.
  const personName = (userId) => client.state.names?.[userId] || otherName || roleWord(role, { capital: true });
  client.on('participant-disconnected', (e) => msg.say(`${personName(e.userId)}’s connection dropped. Waiting for them to come back…`));
  client.on('participant-joined', (e) => {
    const name = e.name || personName(e.userId);
    msg.say(e.reconnected ? `${name} is back.` : `${name} joined the call.`);
  });
  client.on('participant-left', (e) => {
    if (e.reason === 'returned to waiting room') return; // said by sendBack
    msg.say(e.reason === 'disconnected' ? `${personName(e.userId)} did not come back.` : `${personName(e.userId)} left the call.`);
  });
  // Providers: who waits, live; a newcomer to a waiting room is announced.
  const seenWaiting = new Set();
  client.on('waiting-room', (e) => {
    for (const w of e.waiting) {
      const key = `${e.callId}/${w.userId}`;
      if (!seenWaiting.has(key)) msg.say(`${w.name || 'Your patient'} is in the waiting room.`);
      seenWaiting.add(key);
    }
    for (const key of [...seenWaiting]) if (key.startsWith(`${e.callId}/`) && !e.waiting.some((w) => key === `${e.callId}/${w.userId}`)) seenWaiting.delete(key);
    queue.render();
    render(client.state);
  });
  client.on('connection', (e) => {
    if (!e.connected && IN_CALL.has(client.state.phase)) msg.say('Your connection dropped. Reconnecting…');
  });
  client.on('reconnected', () => msg.say('You are back in the call.'));
  client.on('incoming-call', () => void calls.refresh());
  client.on('audio-only-suggested', () => {
    inCall.showSuggestion();
    msg.say('Your connection is weak: consider switching to audio only.');
  });
  client.on('recording-started', () => {
    msg.say(role === 'patient' && client.state.recordingConsent === false ? `${other()} started recording. You said no, so you are not recorded.` : 'Recording started.');
  });
  client.on('recording-stopped', () => msg.say('Recording stopped.'));
  client.on('session-expired', expired);
  client.on('signaling-error', (e) => console.warn('signaling error', e));

  render(client.state);
  try {
    await client.connect();
  } catch (err) {
    if (String(err.message).startsWith('unauthorized')) {
      console.warn('sign-in refused', err);
      signOut();
      root.replaceChildren(header(config), h('main', { class: 'page' }, signInScreen(config, `This sign-in link no longer works. Contact ${config.clinicName} for a new one.`)));
      return;
    }
    fail(err, 'We cannot reach the clinic’s server right now. Retrying…');
  }
  await refreshLists();
  if (expiredOnce) return;
  poll = setInterval(() => {
    if (!expiredOnce && !home.hidden && document.visibilityState === 'visible') void calls.refresh();
  }, 15000);

  // A reload during a call: rejoin it (the server resumes our participation within its grace period).
  const resumeId = activeCall.get();
  if (resumeId && client.state.phase === 'idle') {
    try {
      const call = await client.getCall(resumeId);
      noteCall(call);
      if (call.status === 'active' || (call.waitingRoom && call.status === 'scheduled' && role === 'patient')) {
        otherName = (role === 'patient' ? call.providerName : call.patientName) || otherName;
        msg.say('Rejoining your call…');
        await join(resumeId, call.type ?? call.callType);
      } else activeCall.clear();
    } catch {
      activeCall.clear();
    }
  }
}

main().catch((err) => {
  console.error(err);
  root.textContent = 'Something went wrong. Reload the page to try again.';
});
