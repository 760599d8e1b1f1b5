// vytalcall web app: plain ES modules, no framework, no build step. Only the client SDK is a
// bundle (`/assets/vytalcall-client.js`). The page renders from the SDK's call state; the
// modules are: session (token), calls (list), incoming (ringing), call (in-call screen).
import { VytalcallClient } from '/assets/vytalcall-client.js';
import { h } from './dom.js';
import { currentSession, signIn, signOut, activeCall } from './session.js';
import { callsPanel } from './calls.js';
import { incomingView } from './incoming.js';
import { callView } from './call.js';

const IN_CALL = new Set(['joining', 'waiting', 'connected', 'reconnecting']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const root = document.getElementById('app');
const statusRegion = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', dataset: { testid: 'status' } });

/** Says something to everyone: on screen and to screen readers (the role=status region). */
function announce(message) {
  statusRegion.textContent = message;
  statusRegion.dataset.at = String(Date.now());
}

function signInScreen(problem) {
  const input = h('textarea', { id: 'token-input', rows: 4, required: true, autocomplete: 'off', spellcheck: 'false', dataset: { testid: 'token-input' } });
  const form = h(
    'form',
    {
      class: 'card narrow',
      dataset: { testid: 'sign-in' },
      onsubmit: (e) => {
        e.preventDefault();
        if (!input.value.trim()) return;
        signIn(input.value);
        location.reload();
      },
    },
    h('h2', {}, 'Sign in'),
    h('p', {}, 'Open the link you were given (the vytalcall server prints demo links at start-up), or paste your token here.'),
    h('label', { for: 'token-input' }, 'Sign-in token'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  root.replaceChildren(h('header', { class: 'top' }, h('h1', {}, 'vytalcall')), statusRegion, form);
  if (problem) announce(problem);
}

function startCallForm({ client, prefill, onStarted }) {
  const field = h('input', { id: 'patient-id', name: 'patientId', required: true, autocomplete: 'off', spellcheck: 'false', value: prefill, 'aria-describedby': 'patient-id-help', dataset: { testid: 'patient-id' } });
  const help = h('p', { id: 'patient-id-help', class: 'help' }, 'The patient’s id (a UUID).');
  const video = h('input', { type: 'radio', name: 'callType', id: 'type-video', value: 'video', checked: true, dataset: { testid: 'type-video' } });
  const audio = h('input', { type: 'radio', name: 'callType', id: 'type-audio', value: 'audio', dataset: { testid: 'type-audio' } });
  const submit = h('button', { type: 'submit', dataset: { testid: 'start-call' } }, 'Start call');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'start-heading', dataset: { testid: 'start-call-form' }, novalidate: true },
    h('h2', { id: 'start-heading' }, 'Start a call'),
    h('label', { for: 'patient-id' }, 'Patient id'),
    field,
    help,
    h('fieldset', {}, h('legend', {}, 'Call type'), h('label', { for: 'type-video' }, video, ' Video'), h('label', { for: 'type-audio' }, audio, ' Audio only')),
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const patientId = field.value.trim();
    if (!UUID.test(patientId)) {
      field.setAttribute('aria-invalid', 'true');
      help.textContent = 'Enter the patient’s id: a UUID such as 123e4567-e89b-12d3-a456-426614174000.';
      field.focus();
      announce('The patient id is not a valid id.');
      return;
    }
    field.removeAttribute('aria-invalid');
    help.textContent = 'The patient’s id (a UUID).';
    submit.disabled = true;
    try {
      const type = audio.checked ? 'audio' : 'video';
      const call = await client.createCall({ patientId, type });
      announce(`Calling the patient (${type} call)…`);
      await onStarted(call.id, call.type ?? type);
    } catch (err) {
      announce(`Could not start the call: ${err.message}`);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

async function main() {
  const session = currentSession();
  if (!session.token) return signInScreen(session.problem);
  const { claims } = session;
  const role = claims.role;
  const other = role === 'patient' ? 'Your provider' : 'The patient';
  const client = new VytalcallClient({ token: session.token, deviceId: session.deviceId });
  document.body.dataset.role = role;

  async function join(callId, callType) {
    try {
      activeCall.set(callId);
      await client.join(callId, { callType });
    } catch (err) {
      activeCall.clear();
      // A call that ended before we got in was announced by call-ended already.
      if (err.code !== 'call-ended') announce(`Could not join the call: ${err.message}`);
    }
  }

  const calls = callsPanel({ client, role, announce, onJoin: (call) => join(call.id, call.type ?? call.callType) });
  const incoming = incomingView({ client, role, announce, onAccept: (callId, callType) => join(callId, callType) });
  const inCall = callView({ client, role, announce });
  const home = h(
    'div',
    { class: 'home', dataset: { testid: 'home' } },
    role === 'patient'
      ? h('section', { class: 'card', dataset: { testid: 'patient-waiting' } }, h('h2', {}, 'Your visits'), h('p', {}, 'Keep this page open: when your provider calls, it rings here, on every device where you are signed in.'))
      : startCallForm({ client, prefill: session.prefillPatient, onStarted: join }),
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
  root.replaceChildren(
    h(
      'header',
      { class: 'top' },
      h('h1', {}, 'vytalcall'),
      h('p', { class: 'who', dataset: { testid: 'who' } }, `${claims.name ?? 'Signed in'} · ${role}`),
      signOutButton,
    ),
    statusRegion,
    home,
    inCall.el,
    incoming.el,
  );

  let wasInCall = false;
  function render(state) {
    const nowInCall = IN_CALL.has(state.phase);
    home.hidden = nowInCall;
    inCall.el.hidden = !nowInCall;
    inCall.update(state);
    incoming.update(state);
    document.title = nowInCall ? `In call · vytalcall` : state.phase === 'ringing' ? 'Incoming call · vytalcall' : 'vytalcall';
    if (nowInCall && !wasInCall) {
      inCall.focus();
      announce(state.phase === 'reconnecting' ? 'Reconnecting to your call…' : 'You joined the call.');
    }
    if (!nowInCall && wasInCall) {
      activeCall.clear();
      inCall.reset();
      void calls.refresh();
    }
    wasInCall = nowInCall;
  }
  client.on('state', render);

  client.on('participant-disconnected', () => announce(`${other}'s connection dropped. Waiting for them to come back…`));
  client.on('participant-joined', (e) => announce(e.reconnected ? `${other} is back.` : `${other} joined the call.`));
  client.on('participant-left', (e) => announce(e.reason === 'disconnected' ? `${other} did not come back.` : `${other} left the call.`));
  client.on('connection', (e) => {
    if (!e.connected && IN_CALL.has(client.state.phase)) announce('Your connection dropped. Reconnecting…');
  });
  client.on('reconnected', () => announce('You are back in the call.'));
  client.on('call-ended', (e) => announce(`Call ended: ${e.reason}.`));
  client.on('incoming-call', () => void calls.refresh());
  client.on('audio-only-suggested', () => {
    inCall.showSuggestion();
    announce('Your connection is weak: consider switching to audio only.');
  });
  client.on('recording-started', () => announce('Recording started.'));
  client.on('recording-stopped', () => announce('Recording stopped.'));
  client.on('session-expired', () => {
    signOut();
    signInScreen('Your session has expired. Open a fresh link to sign in again.');
  });

  render(client.state);
  try {
    await client.connect();
  } catch (err) {
    if (String(err.message).startsWith('unauthorized')) {
      signOut();
      return signInScreen(`Sign-in was refused: ${err.message.replace(/^unauthorized:\s*/, '')}.`);
    }
    announce(`Could not reach the server: ${err.message}. Retrying…`);
  }
  await calls.refresh();
  setInterval(() => {
    if (!home.hidden && document.visibilityState === 'visible') void calls.refresh();
  }, 15000);

  // A reload during a call: rejoin it (the server resumes our participation within its grace period).
  const resumeId = activeCall.get();
  if (resumeId && client.state.phase === 'idle') {
    try {
      const call = await client.getCall(resumeId);
      if (call.status === 'active') {
        announce('Rejoining your call…');
        await join(resumeId, call.type ?? call.callType);
      } else activeCall.clear();
    } catch {
      activeCall.clear();
    }
  }
}

main().catch((err) => announce(`Something went wrong: ${err.message}`));
