// The waiting room, enforced by the server (docs/signaling.md, "Waiting room"): a patient
// who joins a visit before a provider admits them waits outside, learns nothing about who
// is inside, and cannot signal; providers see the queue live, message it, admit (over
// signaling or REST) and send people back. Every refusal is checked with the real client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, user, api, createCall, connect, recorder, ask, closeAll, fakeSdp, sleep } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  closeAll();
  await server.stop();
});

const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();
const candidate = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 50001 typ host', sdpMid: '0', sdpMLineIndex: 0 };

/** A visit scheduled in an hour (so with a waiting room), its provider and patient connected. */
async function visit(extra = {}) {
  const provider = user('provider', { name: 'Dr. Ruth Okafor' });
  const patient = user('patient', { name: 'Sam Rivera' });
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const [provEv, patEv] = [recorder(prov), recorder(pat)];
  const callId = await createCall(server, provider, patient, { scheduledAt: inAnHour(), ...extra });
  return { provider, patient, prov, pat, provEv, patEv, callId };
}

const code = (reply) => reply?.error?.code;

test('a patient who arrives early waits outside: not in the call, told their place, unable to signal', async () => {
  const { provider, patient, prov, pat, provEv, patEv, callId } = await visit();
  const created = await api(server, provider, 'GET', `/calls/${callId}`);
  assert.equal(created.body.waitingRoom, true, 'a call scheduled in the future has a waiting room');

  const joined = await ask(pat, 'join-call', { callId });
  assert.deepEqual(joined, { ok: true, callId, status: 'scheduled', waiting: true, position: 1 });
  const status = await patEv.next('waiting-room-status', (e) => e.callId === callId);
  assert.equal(status.position, 1);
  assert.equal(status.providerPresent, false);
  assert.equal(typeof status.message, 'string');

  // The provider, connected but not in the call, sees who waits, named, since when.
  const queue = await provEv.next('waiting-room', (e) => e.callId === callId && e.waiting.length === 1);
  assert.equal(queue.waiting[0].userId, patient.id);
  assert.equal(queue.waiting[0].name, 'Sam Rivera');
  assert.equal(queue.waiting[0].role, 'patient');
  assert.ok(Date.parse(queue.waiting[0].since) <= Date.now());
  assert.equal(queue.waiting[0].deviceCheck, null);

  // A device of the provider that connects later is shown the queue at once.
  const late = io(`${server.url}/webrtc`, { auth: { token: provider.token }, reconnection: false, forceNew: true });
  const shown = new Promise((resolve) => late.on('waiting-room', (e) => e.callId === callId && resolve(e)));
  try {
    const seen = await Promise.race([shown, sleep(4000).then(() => null)]);
    assert.ok(seen, 'a provider connecting later gets the queue');
    assert.deepEqual(seen.waiting.map((w) => w.userId), [patient.id]);
  } finally {
    late.close();
  }

  // Waiting is not being in the call: every relay and report is refused `not-admitted`.
  const refusals = await Promise.all([
    ask(pat, 'offer', { callId, offer: { type: 'offer', sdp: fakeSdp('o') }, targetUserId: provider.id }),
    ask(pat, 'answer', { callId, answer: { type: 'answer', sdp: fakeSdp('a') } }),
    ask(pat, 'ice-candidate', { callId, candidate }),
    ask(pat, 'update-media', { callId, videoEnabled: false }),
    ask(pat, 'connection-quality', { callId, metrics: { bandwidth: 900, latency: 40, packetLoss: 0, jitter: 5 } }),
  ]);
  assert.deepEqual(refusals.map(code), Array(5).fill('not-admitted'));

  // Arriving early rang nobody and started nothing.
  const details = await api(server, provider, 'GET', `/calls/${callId}`);
  assert.equal(details.body.status, 'scheduled');
  assert.equal(provEv.events('incoming-call').length, 0);
  assert.equal(patEv.events('incoming-call').length, 0);

  // The provider joins: the patient is told a provider is here, and learns nothing else.
  const provJoin = await ask(prov, 'join-call', { callId });
  assert.equal(provJoin.ok, true);
  assert.deepEqual(provJoin.participants, [provider.id], 'the waiting patient is not among the participants');
  await patEv.next('waiting-room-status', (e) => e.callId === callId && e.providerPresent === true);
  assert.equal(patEv.events('room-participants').length, 0);
  assert.equal(patEv.events('participant-joined').length, 0);
  assert.equal(provEv.events('participant-joined').length, 0);
  const stillScheduled = await api(server, provider, 'GET', `/calls/${callId}`);
  assert.equal(stillScheduled.body.status, 'scheduled', 'a provider joining early rings nobody');
  await sleep(300);
  assert.equal(patEv.events('incoming-call').length, 0);

  // A message reaches the waiting room.
  assert.equal((await ask(prov, 'waiting-room-message', { callId, text: 'Running 10 minutes late' })).ok, true);
  const note = await patEv.next('message', (e) => e.callId === callId);
  assert.equal(note.text, 'Running 10 minutes late');
  assert.equal(note.fromUserId, provider.id);

  // The patient's device check is shown to the provider.
  const check = { callId, camera: 'ok', microphone: 'ok', speaker: 'unavailable', network: { result: 'ok', rttMs: 42, turn: true } };
  assert.equal((await ask(pat, 'device-check', check)).ok, true);
  const checked = await provEv.next('waiting-room', (e) => e.waiting[0]?.deviceCheck !== null && e.waiting[0]?.deviceCheck !== undefined);
  assert.deepEqual(checked.waiting[0].deviceCheck, {
    camera: 'ok',
    microphone: 'ok',
    speaker: 'unavailable',
    network: { result: 'ok', rttMs: 42, turn: true },
  });

  // Nobody but a host lets anyone in: the patient cannot admit themselves.
  assert.equal(code(await ask(pat, 'admit-participant', { callId, userId: patient.id })), 'forbidden');

  // Admitted: `admitted`, then what a join gives; the room hears of them; the visit starts.
  const admitted = await ask(prov, 'admit-participant', { callId, userId: patient.id });
  assert.deepEqual(admitted, { ok: true, callId, userId: patient.id });
  const welcome = await patEv.next('admitted', (e) => e.callId === callId);
  assert.equal(welcome.admittedBy, provider.id);
  const roster = await patEv.next('room-participants', (e) => e.callId === callId);
  assert.deepEqual([...roster.participants].sort(), [provider.id, patient.id].sort());
  const arrived = await provEv.next('participant-joined', (e) => e.userId === patient.id);
  assert.equal(arrived.name, 'Sam Rivera');
  await provEv.next('waiting-room', (e) => e.callId === callId && e.waiting.length === 0);
  const active = await api(server, provider, 'GET', `/calls/${callId}`);
  assert.equal(active.body.status, 'active', 'the first admission starts the visit');

  // Inside, the patient signals like anyone.
  pat.emit('offer', { callId, offer: { type: 'offer', sdp: fakeSdp('inside') }, targetUserId: provider.id });
  assert.equal((await provEv.next('offer', (e) => e.offer.sdp === fakeSdp('inside'))).fromUserId, patient.id);
});

test('a provider sends someone back to the waiting room, and they must be admitted again', async () => {
  const { provider, patient, prov, pat, provEv, patEv, callId } = await visit();
  await ask(prov, 'join-call', { callId });
  await ask(pat, 'join-call', { callId });
  await ask(prov, 'admit-participant', { callId, userId: patient.id });
  await provEv.next('participant-joined', (e) => e.userId === patient.id);

  const back = await ask(prov, 'return-to-waiting-room', { callId, userId: patient.id });
  assert.deepEqual(back, { ok: true, callId, userId: patient.id });
  const left = await provEv.next('participant-left', (e) => e.userId === patient.id);
  assert.equal(left.reason, 'returned to waiting room');
  await patEv.next('waiting-room-status', (e) => e.callId === callId && e.position === 1 && e.providerPresent);
  await provEv.next('waiting-room', (e) => e.waiting.length === 1 && e.waiting[0].userId === patient.id);
  const refused = await ask(pat, 'offer', { callId, offer: { type: 'offer', sdp: fakeSdp('x') } });
  assert.equal(code(refused), 'not-admitted');
  // Sending back someone who is not inside is refused.
  assert.equal(code(await ask(prov, 'return-to-waiting-room', { callId, userId: patient.id })), 'not-admitted');

  await ask(prov, 'admit-participant', { callId, userId: patient.id });
  await patEv.next('admitted', (e) => e.callId === callId);
  const again = await provEv.next('participant-joined', (e) => e.userId === patient.id);
  assert.equal(again.userId, patient.id);
});

test('admission through REST; strangers, patients and bad requests are refused', async () => {
  const { provider, patient, pat, patEv, callId } = await visit();
  const stranger = user('provider');
  await ask(pat, 'join-call', { callId });

  const strangerSocket = await connect(server, stranger);
  assert.equal(code(await ask(strangerSocket, 'admit-participant', { callId, userId: patient.id })), 'call-not-found',
    'a provider of another call cannot admit');
  assert.equal((await api(server, stranger, 'POST', `/calls/${callId}/admit`, { userId: patient.id })).status, 404);
  assert.equal((await api(server, patient, 'POST', `/calls/${callId}/admit`, { userId: patient.id })).status, 403);
  const bad = await api(server, provider, 'POST', `/calls/${callId}/admit`, { userId: 'nobody' });
  assert.equal(bad.status, 422);
  assert.equal(bad.body.field, 'userId');
  const missing = await api(server, provider, 'POST', `/calls/${callId}/admit`, {});
  assert.equal(missing.status, 422);
  assert.equal(missing.body.field, 'userId');
  const notWaiting = await api(server, provider, 'POST', `/calls/${callId}/admit`, { userId: stranger.id });
  assert.equal(notWaiting.status, 409);
  assert.equal(notWaiting.body.type, '/problems/not-waiting');

  const ok = await api(server, provider, 'POST', `/calls/${callId}/admit`, { userId: patient.id });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  await patEv.next('admitted', (e) => e.callId === callId);
  const roster = await patEv.next('room-participants', (e) => e.callId === callId);
  assert.ok(roster.participants.includes(patient.id));

  // Every waiting-room action is in the trail.
  const admin = user('admin');
  const trail = await api(server, admin, 'GET', `/audit?callId=${callId}&limit=100`);
  const actions = trail.body.entries.map((e) => `${e.action}:${e.outcome}`);
  for (const expected of ['waiting_room.enter:success', 'waiting_room.admit:success', 'waiting_room.admit:denied']) {
    assert.ok(actions.includes(expected), `${expected} in ${actions}`);
  }
});

test('bad waiting-room payloads are refused with the field named', async () => {
  const { prov, pat, callId } = await visit();
  await ask(pat, 'join-call', { callId });
  const cases = [
    [prov, 'admit-participant', { callId }, 'userId'],
    [prov, 'admit-participant', { callId, userId: 'x' }, 'userId'],
    [prov, 'waiting-room-message', { callId, text: 'x'.repeat(281) }, 'text'],
    [prov, 'waiting-room-message', { callId }, 'text'],
    [pat, 'device-check', { callId, camera: 'great', microphone: 'ok', speaker: 'ok', network: 'ok' }, 'camera'],
    [pat, 'device-check', { callId, camera: 'ok', microphone: 'ok', speaker: 'ok' }, 'network'],
  ];
  for (const [socket, event, data, field] of cases) {
    const reply = await ask(socket, event, data);
    assert.equal(code(reply), 'invalid-payload', `${event} ${JSON.stringify(data)}: ${JSON.stringify(reply)}`);
    assert.ok(reply.error.message.includes(field), `${reply.error.message} names ${field}`);
  }
  // Only someone waiting reports a device check; only a host messages the room.
  assert.equal(code(await ask(prov, 'device-check', { callId, camera: 'ok', microphone: 'ok', speaker: 'ok', network: 'ok' })), 'not-waiting');
  assert.equal(code(await ask(pat, 'waiting-room-message', { callId, text: 'let me in' })), 'forbidden');
});

test('a waiting patient who closes the page leaves the queue; a second device does not queue twice', async () => {
  const { patient, pat, provEv, callId } = await visit();
  const tablet = await connect(server, patient);
  await ask(pat, 'join-call', { callId });
  const second = await ask(tablet, 'join-call', { callId });
  assert.equal(second.position, 1, 'the same place');
  await provEv.next('waiting-room', (e) => e.waiting.length === 1);
  pat.close();
  await sleep(500);
  const lists = provEv.events('waiting-room');
  assert.equal(lists.at(-1).waiting.length, 1, 'one device left: still waiting');
  tablet.close();
  await provEv.next('waiting-room', (e) => e.callId === callId && e.waiting.length === 0);
});

test('a call without a waiting room is joined directly, and MAX_CALL_PARTICIPANTS bounds who is in it', async () => {
  const small = await startServer({ MAX_CALL_PARTICIPANTS: '2' });
  try {
    const provider = user('provider');
    const second = user('provider');
    const patient = user('patient');
    const r = await api(small, provider, 'POST', '/calls', {
      patientId: patient.id,
      additionalProviderIds: [second.id],
      scheduledAt: inAnHour(),
      waitingRoom: false,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.waitingRoom, false);
    const callId = r.body.id;
    const [a, b, p] = [await connect(small, provider), await connect(small, second), await connect(small, patient)];
    assert.equal((await ask(a, 'join-call', { callId })).ok, true);
    const direct = await ask(p, 'join-call', { callId });
    assert.equal(direct.ok, true);
    assert.equal(direct.waiting, undefined, 'no waiting room: straight in');
    assert.equal(direct.status, 'active');
    assert.equal(code(await ask(b, 'join-call', { callId })), 'call-full');
    const bad = await api(small, provider, 'POST', '/calls', { patientId: patient.id, waitingRoom: 'yes' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.field, 'waitingRoom');
  } finally {
    await small.stop();
  }
});

test('the people waiting are told when their provider leaves the call', async () => {
  const { prov, pat, patEv, callId } = await visit();
  await ask(pat, 'join-call', { callId });
  await patEv.next('waiting-room-status', (e) => e.callId === callId && e.providerPresent === false);
  await ask(prov, 'join-call', { callId });
  await patEv.next('waiting-room-status', (e) => e.callId === callId && e.providerPresent === true);
  assert.equal((await ask(prov, 'leave-call', { callId })).ok, true);
  const alone = await patEv.next('waiting-room-status', (e) => e.callId === callId && e.providerPresent === false);
  assert.equal(alone.position, 1);
});
