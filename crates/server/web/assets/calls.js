// The calls list: status and history of the calls this user belongs to (GET /webrtc/calls),
// with an Answer or Join button on the calls that are still going. People are named by the
// names the server sends (`patientName`, `providerName`), or by their role when it has none;
// ids are never shown. On a phone each call is a
// card (see app.css), so nothing is cut off at the screen's edge.
import { h, shortTime, duration } from './dom.js';

const JOINABLE = new Set(['ringing', 'active', 'scheduled']);

/** The status of a call in words; a decline and a cancel are both `cancelled` on the wire. */
export function statusWords(call, role) {
  switch (call.status) {
    case 'scheduled':
      return 'Scheduled';
    case 'ringing':
      return 'Ringing';
    case 'active':
      return 'In progress';
    case 'ended':
      return 'Ended';
    case 'missed':
      return 'No answer';
    case 'failed':
      return 'Could not connect';
    case 'cancelled':
      if (call.endReason === 'Declined') return role === 'patient' ? 'You declined' : 'Declined';
      if (call.endReason === 'Hung up before answer') return role === 'patient' ? 'Missed' : 'You hung up';
      return 'Cancelled';
    default:
      return String(call.status ?? '');
  }
}

/** `{ el, refresh() }`; `onJoin(call)` when Answer or Join is pressed; `onLoaded(calls)` after each load. */
export function callsPanel({ client, role, onJoin, onError, onLoaded }) {
  // The other person of a call: the provider for a patient, the patient for everyone else.
  const otherOf = (call) => (role === 'patient' ? call.providerName || 'Your provider' : call.patientName || 'Patient');
  const body = h('tbody', { dataset: { testid: 'calls-body' } });
  const empty = h('p', { class: 'muted', dataset: { testid: 'calls-empty' } }, role === 'patient' ? 'No visits yet.' : 'No calls yet.');
  const refreshButton = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'refresh-calls' }, onclick: () => refresh(true) }, 'Refresh');
  const updated = h('p', { class: 'visually-hidden', role: 'status', dataset: { testid: 'calls-updated' } });
  const headers = ['When', role === 'patient' ? 'With' : 'Who', 'Type', 'Status', 'Length'];
  const table = h(
    'table',
    { class: 'calls', dataset: { testid: 'calls-table' } },
    h('caption', { class: 'visually-hidden' }, 'Your calls, newest first'),
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Action')))),
    body,
  );
  const el = h(
    'section',
    { class: 'card', 'aria-labelledby': 'calls-heading', dataset: { testid: 'calls-panel' } },
    h('div', { class: 'row spread' }, h('h2', { id: 'calls-heading' }, role === 'patient' ? 'Your calls' : 'Calls'), refreshButton),
    h('div', { class: 'table-wrap' }, table),
    empty,
    updated,
  );

  function row(call) {
    const type = call.type ?? call.callType ?? 'video';
    const joinable = JOINABLE.has(call.status);
    const verb = role === 'patient' && call.status === 'ringing' ? 'Answer' : 'Join';
    const when = shortTime(call.createdAt);
    const kind = type === 'audio' ? 'audio' : 'video';
    const other = role === 'patient' ? call.providerName || 'your provider' : call.patientName || 'your patient';
    let label = role === 'patient' ? `${verb} the ${kind} call from ${other}, ${when}` : `${verb} the ${kind} call with ${other}, ${when}`;
    // A visit with a waiting room: the patient waits there until the provider admits them.
    if (call.waitingRoom && role === 'patient' && call.status !== 'active') label = `Join the waiting room of your ${kind} visit with ${other}, ${when}`;
    else if (call.waitingRoom && call.status === 'scheduled') label = `Join the ${kind} visit with ${other}, ${when} (your patient waits until you admit them)`;
    const cells = [when, otherOf(call), type === 'audio' ? 'Audio' : 'Video'];
    return h(
      'tr',
      { dataset: { testid: 'call-row', callId: call.id, status: call.status } },
      cells.map((c, i) => h('td', { dataset: i === 1 ? { label: headers[i], testid: 'call-with' } : { label: headers[i] } }, c)),
      h('td', { dataset: { label: 'Status' } }, h('span', { class: `badge status-${call.status}`, dataset: { testid: 'call-status' } }, statusWords(call, role))),
      h('td', { dataset: { label: 'Length' } }, call.durationSeconds != null ? duration(call.durationSeconds) : '—'),
      h('td', { class: 'action' }, joinable ? h('button', { type: 'button', 'aria-label': label, dataset: { testid: 'join-call', waitingRoom: String(Boolean(call.waitingRoom)) }, onclick: () => onJoin(call) }, verb) : ''),
    );
  }

  let loading = null;
  async function refresh(byUser = false) {
    if (loading) return loading;
    loading = (async () => {
      try {
        const res = await client.listCalls({ limit: 20 });
        const calls = Array.isArray(res) ? res : (res?.calls ?? []);
        onLoaded?.(calls);
        body.replaceChildren(...calls.map(row));
        table.hidden = calls.length === 0;
        empty.hidden = calls.length !== 0;
        if (byUser) updated.textContent = `List updated: ${calls.length} call${calls.length === 1 ? '' : 's'}.`;
      } catch (err) {
        onError(err, 'We could not load your calls. We will try again shortly.');
      } finally {
        loading = null;
      }
    })();
    return loading;
  }
  table.hidden = true;
  return { el, refresh };
}
