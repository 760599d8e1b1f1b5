// The providers' side of the waiting room: who waits for which of their visits (by name), for
// how long (the time updates), how their device check went, with *Admit* and *Message*. The
// queue is the server's (`waiting-room` events, kept by the SDK in `client.waitingRooms`).
// Shown on the provider's home for all their visits, and in the call screen for the visit
// they are in (after sending someone back, for instance).
import { h, shortTime, spokenLength } from './dom.js';
import { checkSummary, checkTrouble } from './devicecheck.js';

/**
 * `{ el, render() }`. `only()`: the call to show (the one we are in), or undefined for every
 * call. `describe(callId)`: what the app knows about the call (`{ type, scheduledAt }`), or
 * null. `onAdmit(callId, userId, name)` lets someone in.
 */
export function waitingQueue({ client, only, describe, onAdmit, say, fail, compact = false, idPrefix = 'queue' }) {
  const heading = h('h2', { id: `${idPrefix}-heading` }, 'Waiting room');
  const body = h('div', { class: 'queue-calls' });
  const el = h(
    'section',
    { class: compact ? 'queue compact' : 'card queue', 'aria-labelledby': `${idPrefix}-heading`, dataset: { testid: 'waiting-queue' }, hidden: true },
    heading,
    body,
  );
  const groups = new Map(); // callId -> { el, title, list, rows: Map(userId -> row), form... }
  let n = 0;

  const nameOf = (w) => w.name || (w.role === 'guest' ? 'A guest' : 'Your patient');

  function group(callId) {
    let g = groups.get(callId);
    if (g) return g;
    const i = ++n;
    const title = h('h3', { class: 'queue-title' });
    const list = h('ul', { class: 'queue-list' });
    const input = h('input', { id: `${idPrefix}-message-${i}`, maxlength: 280, autocomplete: 'off', dataset: { testid: 'waiting-message-input' } });
    const send = h('button', { type: 'submit', dataset: { testid: 'send-waiting-message' } }, 'Send');
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const form = h(
      'form',
      { class: 'queue-message', id: `${idPrefix}-form-${i}`, hidden: true, dataset: { testid: 'waiting-message-form' } },
      h('label', { for: `${idPrefix}-message-${i}` }, 'Message to everyone waiting for this visit'),
      input,
      h('div', { class: 'row' }, send, cancel),
    );
    const open = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': `${idPrefix}-form-${i}`, dataset: { testid: 'message-waiting-room' } }, 'Message');
    const toggle = (show) => {
      form.hidden = !show;
      open.setAttribute('aria-expanded', String(show));
      if (show) input.focus();
    };
    open.addEventListener('click', () => toggle(form.hidden));
    cancel.addEventListener('click', () => {
      toggle(false);
      open.focus();
    });
    form.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      toggle(false);
      open.focus();
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return input.focus();
      send.disabled = true;
      try {
        await client.messageWaitingRoom(text, callId);
        input.value = '';
        toggle(false);
        open.focus();
        say('Your message was sent to the waiting room.');
      } catch (err) {
        fail(err, 'Your message could not be sent. Try again.');
      } finally {
        send.disabled = false;
      }
    });
    const gEl = h('div', { class: 'queue-call', dataset: { testid: 'waiting-call', callId } }, title, list, h('div', { class: 'row' }, open), form);
    g = { el: gEl, title, list, rows: new Map() };
    groups.set(callId, g);
    return g;
  }

  function row(g, callId, w) {
    let r = g.rows.get(w.userId);
    if (r) return r;
    const name = h('span', { class: 'queue-name', dataset: { testid: 'waiting-name' } });
    const since = h('span', { class: 'queue-since', dataset: { testid: 'waiting-since' } });
    const check = h('span', { class: 'queue-check', dataset: { testid: 'waiting-check' } });
    const admit = h('button', { type: 'button', dataset: { testid: 'admit' } }, 'Admit');
    admit.addEventListener('click', async () => {
      admit.disabled = true;
      try {
        await onAdmit(callId, w.userId, nameOf(r.person));
      } finally {
        admit.disabled = false;
      }
    });
    const li = h('li', { class: 'queue-person', dataset: { testid: 'waiting-person', userId: w.userId, callId } }, h('div', { class: 'queue-who' }, name, since, check), admit);
    r = { el: li, name, since, check, admit, person: w };
    g.rows.set(w.userId, r);
    return r;
  }

  function tick() {
    for (const g of groups.values()) {
      for (const r of g.rows.values()) {
        const seconds = Math.max(0, (Date.now() - Date.parse(r.person.since)) / 1000);
        r.since.textContent = `Waiting ${spokenLength(seconds)}`;
      }
    }
  }

  function render() {
    const target = only?.();
    const rooms = [...client.waitingRooms.entries()].filter(([callId, waiting]) => waiting.length && (target === undefined || callId === target));
    const live = new Set(rooms.map(([callId]) => callId));
    for (const [callId, g] of groups) {
      if (live.has(callId)) continue;
      // Nobody waits any more: the group goes, unless a message is being written in it.
      if (g.el.contains(document.activeElement) && g.el.querySelector('form:not([hidden])')) continue;
      g.el.remove();
      groups.delete(callId);
    }
    for (const [callId, waiting] of rooms) {
      const g = group(callId);
      const about = describe(callId);
      const kind = about?.type === 'audio' ? 'audio' : 'video';
      g.title.textContent = compact ? `Waiting to join this ${kind} visit` : `Your ${kind} visit${about?.scheduledAt ? ` at ${shortTime(about.scheduledAt)}` : ''}`;
      const keep = new Set(waiting.map((w) => w.userId));
      for (const [userId, r] of g.rows) {
        if (!keep.has(userId)) {
          r.el.remove();
          g.rows.delete(userId);
        }
      }
      waiting.forEach((w, i) => {
        const r = row(g, callId, w);
        r.person = w;
        const who = nameOf(w);
        r.name.textContent = w.role === 'guest' ? `${who} (guest)` : who;
        r.admit.setAttribute('aria-label', `Admit ${who} to the visit`);
        const summary = checkSummary(w.deviceCheck);
        r.check.textContent = summary ?? 'Still checking their camera and microphone.';
        r.check.dataset.trouble = String(checkTrouble(w.deviceCheck));
        r.el.dataset.checked = String(Boolean(w.deviceCheck));
        if (g.list.children[i] !== r.el) g.list.insertBefore(r.el, g.list.children[i] ?? null);
      });
      if (!g.el.isConnected) body.append(g.el);
    }
    el.hidden = groups.size === 0;
    tick();
  }

  setInterval(tick, 1000);
  return { el, render };
}
