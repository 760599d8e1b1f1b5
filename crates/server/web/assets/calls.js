// The calls list: status and history of the calls this user belongs to (GET /webrtc/calls),
// with a Join button on the calls that are still going.
import { h, shortTime, duration } from './dom.js';

const JOINABLE = new Set(['ringing', 'active', 'scheduled']);
const STATUS_TEXT = {
  scheduled: 'Scheduled',
  ringing: 'Ringing',
  active: 'In progress',
  ended: 'Ended',
  cancelled: 'Cancelled',
  missed: 'Missed',
  failed: 'Failed',
};

const shortId = (id) => (typeof id === 'string' ? id.slice(0, 8) : '');

/** `{ el, refresh() }`; `onJoin(call)` when a Join button is pressed. */
export function callsPanel({ client, role, onJoin, announce }) {
  const body = h('tbody', { dataset: { testid: 'calls-body' } });
  const empty = h('p', { class: 'muted', dataset: { testid: 'calls-empty' } }, 'No calls yet.');
  const refreshButton = h('button', { type: 'button', class: 'secondary', dataset: { testid: 'refresh-calls' }, onclick: () => refresh(true) }, 'Refresh');
  const table = h(
    'table',
    { class: 'calls', dataset: { testid: 'calls-table' } },
    h('caption', { class: 'visually-hidden' }, 'Your calls, newest first'),
    h('thead', {}, h('tr', {}, ['When', role === 'patient' ? 'Provider' : 'Patient', 'Type', 'Status', 'Length / reason', ''].map((t) => h('th', { scope: 'col' }, t)))),
    body,
  );
  const el = h(
    'section',
    { class: 'card', 'aria-labelledby': 'calls-heading', dataset: { testid: 'calls-panel' } },
    h('div', { class: 'row spread' }, h('h2', { id: 'calls-heading' }, 'Calls'), refreshButton),
    h('div', { class: 'table-wrap' }, table),
    empty,
  );

  function row(call) {
    const other = role === 'patient' ? call.providerId : call.patientId;
    const type = call.type ?? call.callType ?? 'video';
    const joinable = JOINABLE.has(call.status);
    const verb = role === 'patient' && call.status === 'ringing' ? 'Answer' : 'Join';
    const detail = [call.durationSeconds != null ? duration(call.durationSeconds) : '', call.endReason ?? ''].filter(Boolean).join(' · ');
    return h(
      'tr',
      { dataset: { testid: 'call-row', callId: call.id, status: call.status } },
      h('td', {}, shortTime(call.createdAt)),
      h('td', { title: other }, shortId(other)),
      h('td', {}, type === 'audio' ? 'Audio' : 'Video'),
      h('td', {}, h('span', { class: `badge status-${call.status}`, dataset: { testid: 'call-status' } }, STATUS_TEXT[call.status] ?? call.status)),
      h('td', {}, detail),
      h(
        'td',
        {},
        joinable
          ? h('button', { type: 'button', 'aria-label': `${verb} ${type} call ${shortId(call.id)}`, dataset: { testid: 'join-call' }, onclick: () => onJoin(call) }, verb)
          : '',
      ),
    );
  }

  let loading = null;
  async function refresh(byUser = false) {
    if (loading) return loading;
    loading = (async () => {
      try {
        const res = await client.listCalls({ limit: 20 });
        const calls = Array.isArray(res) ? res : (res?.calls ?? []);
        body.replaceChildren(...calls.map(row));
        table.hidden = calls.length === 0;
        empty.hidden = calls.length !== 0;
        if (byUser) announce(`Calls list updated: ${calls.length} call${calls.length === 1 ? '' : 's'}.`);
      } catch (err) {
        announce(`Could not load your calls: ${err.message}`);
      } finally {
        loading = null;
      }
    })();
    return loading;
  }
  table.hidden = true;
  return { el, refresh };
}
