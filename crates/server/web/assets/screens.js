// The screens around a call: the header with the clinic's name, the two message regions
// (news and problems, styled apart), the sign-in page, the provider's start form and the
// end-of-visit card.
import { h, spokenLength, clock, shortTime } from './dom.js';
import { signIn } from './session.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `/app-config.json`, or the defaults when the server cannot be asked. */
export async function loadConfig() {
  const fallback = { clinicName: 'vytalcall', clinicLogoUrl: null, recordingRetentionDays: 365 };
  try {
    const r = await fetch('/app-config.json', { headers: { accept: 'application/json' } });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return { ...fallback, ...(await r.json()) };
  } catch (err) {
    console.warn('app-config.json could not be read', err);
    return fallback;
  }
}

/** The news region (polite) and the problem region (an alert, in its own style). */
export function messages() {
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite', dataset: { testid: 'status' } });
  const problem = h('p', { class: 'problem', role: 'alert', dataset: { testid: 'problem' } });
  return {
    el: h('div', { class: 'messages' }, status, problem),
    say(message) {
      status.textContent = message;
      status.dataset.at = String(Date.now());
    },
    /** A problem for the person; the technical detail (`err`) goes to the console only. */
    fail(err, message) {
      if (err) console.warn(message, err);
      problem.textContent = message;
      problem.dataset.at = String(Date.now());
    },
    clearProblem() {
      problem.textContent = '';
    },
  };
}

export function header(config, ...rest) {
  const logo = config.clinicLogoUrl ? h('img', { class: 'logo', src: config.clinicLogoUrl, alt: '', width: 32, height: 32 }) : null;
  return h('header', { class: 'top', dataset: { testid: 'top' } }, h('h1', { dataset: { testid: 'clinic-name' } }, logo, config.clinicName), ...rest);
}

/** The sign-in page, written for patients: open the clinic's link, or enter the code. */
export function signInScreen(config, problem) {
  const input = h('textarea', { id: 'token-input', rows: 3, required: true, autocomplete: 'off', spellcheck: 'false', dataset: { testid: 'token-input' } });
  const form = h(
    'form',
    {
      class: 'card narrow sign-in',
      'aria-labelledby': 'sign-in-heading',
      dataset: { testid: 'sign-in' },
      onsubmit: (e) => {
        e.preventDefault();
        if (!input.value.trim()) return;
        signIn(input.value);
        location.reload();
      },
    },
    h('h2', { id: 'sign-in-heading' }, `Your video visit with ${config.clinicName}`),
    problem ? h('p', { class: 'problem', role: 'alert', dataset: { testid: 'sign-in-problem' } }, problem) : null,
    h('p', {}, `To join, open the link ${config.clinicName} sent you, by text message or email. It signs you in on this device.`),
    h('p', { class: 'muted' }, `If your link has expired or does not work, contact ${config.clinicName} and ask for a new one.`),
    h(
      'details',
      {},
      h('summary', {}, 'I was given a sign-in code'),
      h('label', { for: 'token-input' }, 'Sign-in code'),
      input,
      h('button', { type: 'submit' }, 'Sign in'),
    ),
  );
  return form;
}

/**
 * The provider's start form: pick one of their recent patients by name (`GET
 * /webrtc/patients/recent`), or paste a patient's id, which is checked against the people the
 * server has met (`GET /webrtc/people/{id}`) before anything rings. `onStarted(callId,
 * callType, name)`; `refresh()` reloads the list.
 */
export function startCallForm({ client, prefill, say, fail, onStarted, onOpened }) {
  const recentList = h('div', { class: 'recent-list', dataset: { testid: 'recent-patients' } });
  const recentEmpty = h('p', { class: 'muted', dataset: { testid: 'recent-empty' }, hidden: true }, 'No recent patients yet. Use their id below.');
  const recent = h('fieldset', { class: 'recent' }, h('legend', {}, 'Your recent patients'), recentList, recentEmpty);
  const field = h('input', { id: 'patient-id', name: 'patientId', autocomplete: 'off', spellcheck: 'false', value: prefill, 'aria-describedby': 'patient-id-help', dataset: { testid: 'patient-id' } });
  const helpText = 'Paste the id from your patient list or the visit’s link.';
  const help = h('p', { id: 'patient-id-help', class: 'help', dataset: { testid: 'patient-id-help' } }, helpText);
  const byId = h('details', { class: 'by-id', dataset: { testid: 'by-id' }, open: Boolean(prefill) }, h('summary', {}, 'Call a patient by their id'), h('label', { for: 'patient-id' }, 'Patient’s id'), field, help);
  const video = h('input', { type: 'radio', name: 'callType', id: 'type-video', value: 'video', checked: true, dataset: { testid: 'type-video' } });
  const audio = h('input', { type: 'radio', name: 'callType', id: 'type-audio', value: 'audio', dataset: { testid: 'type-audio' } });
  const waitingRoom = h('input', { type: 'checkbox', id: 'waiting-room-choice', name: 'waitingRoom', 'aria-describedby': 'waiting-room-help', dataset: { testid: 'waiting-room-choice' } });
  const waitingHelp = h('p', { id: 'waiting-room-help', class: 'help' }, 'Nothing rings: the visit opens, your patient joins it from their visits list and waits until you admit them.');
  const submit = h('button', { type: 'submit', dataset: { testid: 'start-call' } }, 'Call the patient');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'start-heading', dataset: { testid: 'start-call-form' }, novalidate: true },
    h('h2', { id: 'start-heading' }, 'Start a call'),
    recent,
    byId,
    h('fieldset', {}, h('legend', {}, 'Call type'), h('label', { for: 'type-video' }, video, ' Video'), h('label', { for: 'type-audio' }, audio, ' Audio only')),
    h('div', { class: 'choice' }, h('label', { for: 'waiting-room-choice' }, waitingRoom, ' Patient waits in a waiting room until I admit them'), waitingHelp),
    submit,
  );

  const picked = () => recentList.querySelector('input[type=radio]:checked');
  function label() {
    const p = picked();
    const who = p && !field.value.trim() ? p.dataset.name : null;
    if (waitingRoom.checked) submit.textContent = who ? `Open a visit for ${who}` : 'Open the visit';
    else submit.textContent = who ? `Call ${who}` : 'Call the patient';
  }
  waitingRoom.addEventListener('change', label);
  function invalid(text, problem) {
    field.setAttribute('aria-invalid', 'true');
    byId.open = true;
    help.textContent = text;
    field.focus();
    fail(null, problem);
  }
  field.addEventListener('input', () => {
    if (field.value.trim()) for (const r of recentList.querySelectorAll('input[type=radio]')) r.checked = false;
    field.removeAttribute('aria-invalid');
    help.textContent = helpText;
    label();
  });

  async function refresh() {
    try {
      const { patients } = await client.recentPatients(20);
      recentList.replaceChildren(
        ...patients.map((p, i) => {
          const name = p.name || 'A patient without a name yet';
          const id = `recent-${i}`;
          const radio = h('input', { type: 'radio', name: 'recentPatient', id, value: p.id, dataset: { name: p.name || 'the patient' } });
          radio.addEventListener('change', () => {
            field.value = '';
            field.removeAttribute('aria-invalid');
            help.textContent = helpText;
            label();
          });
          return h('label', { for: id, class: 'recent-patient', dataset: { testid: 'recent-patient' } }, radio, ' ', h('span', { class: 'recent-name' }, name), h('span', { class: 'muted' }, ` · last call ${shortTime(p.lastCallAt)}`));
        }),
      );
      recentEmpty.hidden = patients.length > 0;
      if (!patients.length) byId.open = true;
      label();
    } catch (err) {
      console.warn('recent patients could not be read', err);
      recentEmpty.hidden = false;
      byId.open = true;
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const typed = field.value.trim();
    let patientId = picked()?.value ?? null;
    let name = picked()?.dataset.name ?? null;
    if (typed || !patientId) {
      if (!typed) {
        if (recentList.children.length) {
          fail(null, 'Choose a patient to call, or paste their id.');
          recentList.querySelector('input')?.focus();
        } else invalid(helpText, 'Paste the id of the patient to call.');
        return;
      }
      if (!UUID.test(typed)) return invalid('This is not a valid patient id. Copy it again from your patient list or the visit’s link.', 'The patient id is not a valid id.');
      submit.disabled = true;
      try {
        const person = await client.findPerson(typed);
        if (!person) return invalid('Nobody with this id has ever signed in here. Check the id: the call was not placed.', 'No patient with this id is known here, so nothing was rung. Check the id and try again.');
        if (person.role !== 'patient') return invalid('This id is not a patient’s. Check the id: the call was not placed.', 'That id belongs to someone who is not a patient, so nothing was rung.');
        patientId = typed;
        name = person.name;
      } catch (err) {
        return fail(err, 'The id could not be checked. Try again in a moment.');
      } finally {
        submit.disabled = false;
      }
    }
    field.removeAttribute('aria-invalid');
    help.textContent = helpText;
    submit.disabled = true;
    try {
      const type = audio.checked ? 'audio' : 'video';
      if (waitingRoom.checked) {
        const call = await client.createCall({ patientId, type, waitingRoom: true });
        say(`The visit is open. ${name || 'Your patient'} will wait in the waiting room until you admit them.`);
        await onOpened?.(call, name);
        return;
      }
      const call = await client.createCall({ patientId, type });
      say(`Calling ${name || 'your patient'} (${type} call)…`);
      await onStarted(call.id, call.type ?? type, name);
    } catch (err) {
      fail(err, err.status === 403 || err.status === 404 || err.status === 422 ? 'That patient cannot be called. Check the id.' : 'The call could not be started. Try again in a moment.');
    } finally {
      submit.disabled = false;
    }
  });
  return { el: form, refresh };
}

/** The end-of-visit card: what happened, how long it lasted, and that the page may close. */
export function endOfVisit({ role, onDone }) {
  const heading = h('h2', { id: 'visit-ended-heading', tabindex: '-1', dataset: { testid: 'visit-ended-heading' } });
  const what = h('p', { dataset: { testid: 'visit-ended-reason' } });
  const length = h('p', { dataset: { testid: 'visit-length' } });
  const done = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'visit-ended-done' } }, role === 'patient' ? 'Back to my visits' : 'Back to the start');
  const el = h(
    'section',
    { class: 'card visit-ended', 'aria-labelledby': 'visit-ended-heading', dataset: { testid: 'visit-ended' }, hidden: true },
    heading,
    what,
    length,
    h('p', {}, role === 'patient' ? 'You can close this page now. Keep it open if you expect another call.' : 'You can close this page, or start another call.'),
    done,
  );
  done.addEventListener('click', () => {
    el.hidden = true;
    onDone();
  });
  return {
    el,
    show({ title, reason, seconds }) {
      heading.textContent = title;
      what.textContent = reason;
      length.textContent = seconds != null ? `Length: ${clock(seconds)} (${spokenLength(seconds)}).` : '';
      length.hidden = seconds == null;
      el.hidden = false;
      heading.focus();
    },
    hide() {
      el.hidden = true;
    },
  };
}
