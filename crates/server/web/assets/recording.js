// Recording in the call screen: the provider's Record button (with a spoken yes attested when
// the patient has not answered in the app; never over the patient's own no, which only they
// can change), each person's answer shown to the provider as it changes, and the patient's
// side: the question when asked, and a switch to change the answer at any time. Consent
// statements use the REST contract of docs/recording.md.
import { h, setPressed } from './dom.js';
import { consentFacts } from './consent.js';

const ANSWER_POLL_MS = 2000;

export function recordingParts({ client, role, config, say, fail }) {
  let answeredConsent = null;
  let pollTimer = null;
  let lastAnswers = new Map(); // userId -> true | false: where each person stands
  let ownNo = new Set(); // people whose own latest word is no
  let patientId = null;
  let patientName = null;

  // ---- provider ----
  const recordButton = h('button', { type: 'button', class: 'control', 'aria-pressed': 'false', dataset: { testid: 'toggle-recording' }, onclick: () => void toggleRecording() }, 'Start recording');
  recordButton.hidden = role === 'patient';
  const attestButton = h('button', { type: 'button', dataset: { testid: 'record-verbal' }, onclick: () => void startRecording(true) }, 'They agreed aloud: start recording');
  const recordConfirm = h(
    'div',
    { class: 'banner', role: 'group', 'aria-label': 'Recording needs consent', dataset: { testid: 'record-confirm' }, hidden: true },
    h('span', {}, 'Your patient has not agreed to recording in the app. Record only if they agreed aloud.'),
    attestButton,
    h('button', { type: 'button', class: 'secondary', onclick: () => (recordConfirm.hidden = true) }, 'Cancel'),
  );
  const answers = h('p', { class: 'consent-answers', dataset: { testid: 'consent-answers' }, hidden: role === 'patient' });

  // ---- patient ----
  const consentYes = h('button', { type: 'button', dataset: { testid: 'consent-yes' }, onclick: () => void consent(true) }, 'Yes, record me');
  const consentQuestion = h('p', { id: 'consent-q', class: 'question', dataset: { testid: 'consent-question' } });
  const consentDialog = h(
    'div',
    { class: 'dialog', role: 'alertdialog', 'aria-modal': 'false', 'aria-labelledby': 'consent-q', 'aria-describedby': 'consent-q-facts', dataset: { testid: 'consent-dialog' }, hidden: true },
    consentQuestion,
    consentFacts(config, 'consent-q-facts'),
    h('div', { class: 'row' }, consentYes, h('button', { type: 'button', class: 'secondary', dataset: { testid: 'consent-no' }, onclick: () => void consent(false) }, 'No, do not record me')),
  );
  const consentSwitch = h(
    'button',
    { type: 'button', class: 'control', role: 'switch', 'aria-checked': 'false', dataset: { testid: 'consent-switch' }, onclick: () => void consent(client.state.recordingConsent !== true) },
    'Allow recording',
  );
  consentSwitch.hidden = role !== 'patient';

  const indicator = h('span', { class: 'indicator recording', dataset: { testid: 'recording-indicator' }, hidden: true, role: 'img', 'aria-label': 'This call is being recorded' }, '● Recording');

  async function toggleRecording() {
    const { callId, recording: rec } = client.state;
    if (!callId) return;
    try {
      if (rec) await client.stopRecording(callId, rec.recordingId);
      else await startRecording(false);
    } catch (err) {
      fail(err, 'The recording could not be stopped. Try again.');
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
        await pollAnswers();
        // A person's own no stands until they themselves say yes: nobody can attest over it.
        const saidNo = others.some((id) => ownNo.has(id));
        recordConfirm.querySelector('span').textContent = saidNo
          ? 'Your patient said no to recording in the app, and only they can change that: they can turn on “Allow recording” on their screen.'
          : 'Your patient has not agreed to recording in the app. Record only if they agreed aloud.';
        attestButton.hidden = saidNo;
        recordConfirm.hidden = false;
        say('Recording needs your patient’s consent.');
      } else {
        fail(err, 'The recording did not start. Try again in a moment.');
      }
    }
  }

  /** The recording the patient should be asked about now, or null (see docs/web-app.md). */
  function consentToAsk(state) {
    if (state.consentRequested && state.recordingConsent !== false) return state.consentRequested;
    if (role === 'patient' && state.recording && state.recordingConsent == null) return state.recording.recordingId;
    return null;
  }

  async function consent(yes) {
    answeredConsent = consentToAsk(client.state);
    consentDialog.hidden = true;
    try {
      await client.setRecordingConsent(client.state.callId, yes);
      say(yes ? 'You agreed to recording.' : 'You declined recording. You are not recorded, and your provider has been told.');
    } catch (err) {
      fail(err, 'Your answer about recording could not be sent. Try again.');
    }
  }

  // The provider learns each answer from the call's consent history.
  async function pollAnswers() {
    const { callId } = client.state;
    if (!callId) return;
    try {
      const call = await client.getCall(callId);
      patientId = call.patientId ?? patientId;
      patientName = call.patientName ?? patientName;
      // Where each person stands: their own latest word, or else the latest attestation.
      const latest = new Map();
      const own = new Map();
      for (const c of [...(call.consents ?? [])].sort((a, b) => String(a.recordedAt).localeCompare(String(b.recordedAt)))) {
        if (c.userId === client.userId) continue;
        if (c.recordedBy === c.userId) own.set(c.userId, c.consented);
        if (c.recordedBy === c.userId || !own.has(c.userId)) latest.set(c.userId, c.consented);
      }
      ownNo = new Set([...own].filter(([, yes]) => !yes).map(([id]) => id));
      for (const [userId, yes] of latest) {
        if (lastAnswers.get(userId) !== yes) {
          const who = userId === patientId ? (patientName ?? 'Your patient') : (client.state.names?.[userId] ?? 'A participant');
          if (yes) say(`${who} agreed to recording.`);
          else say(client.state.recording ? `${who} said no to recording: they are not being recorded.` : `${who} said no to recording.`);
        }
      }
      lastAnswers = latest;
      renderAnswers();
    } catch (err) {
      console.warn('consent answers could not be read', err);
    }
  }

  function renderAnswers() {
    const others = Object.keys(client.state.participants);
    const parts = others.map((id) => {
      const who = id === patientId ? (patientName ?? 'Patient') : (client.state.names?.[id] ?? 'Participant');
      const a = lastAnswers.get(id);
      return `${who}: ${a === true ? 'agrees to recording' : a === false ? 'said no to recording' : 'has not answered about recording'}`;
    });
    answers.textContent = parts.join(' · ');
    answers.dataset.answers = others.map((id) => String(lastAnswers.get(id) ?? 'none')).join(',');
  }

  function update(state, inCall) {
    if (role !== 'patient') {
      if (inCall && !pollTimer) {
        void pollAnswers();
        pollTimer = setInterval(() => void pollAnswers(), ANSWER_POLL_MS);
      }
      if (!inCall && pollTimer) {
        clearInterval(pollTimer);
        pollTimer = null;
      }
      renderAnswers();
      answers.hidden = Object.keys(state.participants).length === 0;
    }
    // The badge is for the people being recorded: someone who said no is not.
    const me = state.recordingConsent;
    const notMe = role === 'patient' && me === false;
    indicator.hidden = !state.recording;
    indicator.dataset.recordingId = state.recording?.recordingId ?? '';
    indicator.dataset.you = notMe ? 'not-recorded' : 'recorded';
    indicator.textContent = notMe ? 'Recording others — not you' : '● Recording';
    indicator.setAttribute('aria-label', notMe ? 'The call is being recorded, but you are not' : 'This call is being recorded');
    indicator.classList.toggle('not-me', notMe);
    recordButton.textContent = state.recording ? 'Stop recording' : 'Start recording';
    setPressed(recordButton, Boolean(state.recording));
    consentSwitch.setAttribute('aria-checked', String(me === true));
    consentSwitch.textContent = me === true ? 'Recording allowed' : 'Allow recording';
    const ask = consentToAsk(state);
    const asking = Boolean(ask && ask !== answeredConsent);
    if (asking && consentDialog.hidden) {
      consentQuestion.textContent = state.consentRequested
        ? 'This call is being recorded, but you are not, as your consent is not on record. Do you agree to be recorded?'
        : 'Your provider is recording this call. Do you agree to be recorded?';
      say('Recording: your consent is asked.');
    }
    consentDialog.hidden = !asking;
  }

  function reset() {
    recordConfirm.hidden = true;
    consentDialog.hidden = true;
    answeredConsent = null;
    lastAnswers = new Map();
    ownNo = new Set();
    patientId = null;
    patientName = null;
  }

  return { recordButton, recordConfirm, consentDialog, consentSwitch, indicator, answers, update, reset, pollAnswers };
}
