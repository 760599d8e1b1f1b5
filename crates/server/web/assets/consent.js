// What the recording consent question says, so that a person can answer it: what is recorded,
// who may watch it, where it is kept and for how long, and that the answer can change.
import { h } from './dom.js';

/** The explanation shown with every consent question (`config` from /app-config.json). */
export function consentFacts(config, id) {
  const days = config.recordingRetentionDays;
  return h(
    'ul',
    { class: 'consent-facts', id, dataset: { testid: 'consent-facts' } },
    h('li', {}, 'What: the sound and video of this call, from the moment your provider starts recording.'),
    h('li', {}, 'Who may watch it: only the providers of this visit and the clinic’s administrators. Every viewing is logged.'),
    h('li', {}, `Where: kept encrypted by ${config.clinicName}, never on this device.`),
    h('li', {}, `How long: deleted after ${days} day${days === 1 ? '' : 's'}, unless the law requires the clinic to keep it longer.`),
    h('li', {}, 'You can change your answer at any time during the call. If you say no, you are not recorded.'),
  );
}

/** A yes/no choice (radio buttons) with the facts; `value()` is true, false or null. */
export function consentChoice(config, idPrefix) {
  const yes = h('input', { type: 'radio', name: `${idPrefix}-consent`, id: `${idPrefix}-consent-yes`, value: 'yes', dataset: { testid: `${idPrefix}-consent-yes` } });
  const no = h('input', { type: 'radio', name: `${idPrefix}-consent`, id: `${idPrefix}-consent-no`, value: 'no', dataset: { testid: `${idPrefix}-consent-no` } });
  const el = h(
    'fieldset',
    { class: 'consent-choice', 'aria-describedby': `${idPrefix}-facts`, dataset: { testid: `${idPrefix}-consent` } },
    h('legend', {}, 'If your provider records this visit, may you be recorded?'),
    consentFacts(config, `${idPrefix}-facts`),
    h('div', { class: 'row' }, h('label', { for: yes.id }, yes, ' Yes, I agree'), h('label', { for: no.id }, no, ' No, do not record me')),
  );
  return {
    el,
    value: () => (yes.checked ? true : no.checked ? false : null),
    reset: () => {
      yes.checked = no.checked = false;
    },
  };
}
