// A node dies mid-call (SIGKILL: no shutdown work at all). Its clients reconnect to the
// other node within the grace period and the call goes on, with no spurious
// participant-left; a user whose node died and who does not come back is reported left
// exactly once, by a surviving node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { user, api, createCall, connect, recorder, ask, closeAll, fakeSdp, sleep } from '../signaling/helpers.mjs';
import { cluster } from './cluster.mjs';

const GRACE = 8;
const NODE_TTL = 5; // seconds without a heartbeat before a node's devices are taken over

let c;
before(async () => {
  c = await cluster({ grace: GRACE });
});
after(async () => {
  closeAll();
  await c.stop();
});

const candidate = (n) => ({ candidate: `candidate:${n} 1 udp 2122260223 192.0.2.${n} 5000${n} typ host`, sdpMid: '0', sdpMLineIndex: 0 });
const disconnected = (socket) => new Promise((r) => (socket.connected ? socket.once('disconnect', r) : r()));

test('node A is killed mid-call; its clients resume on node B and the call goes on', async () => {
  const a = await c.node('a');
  const b = await c.node('b');
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(a, provider);
  const phone = await connect(b, patient);
  const laptop = await connect(a, patient);
  const [provEv, phoneEv] = [recorder(prov), recorder(phone)];

  const callId = await createCall(a, provider, patient);
  await phoneEv.next('incoming-call', (d) => d.callId === callId);
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(phone, 'join-call', { callId })).status, 'active');
  assert.equal((await ask(laptop, 'join-call', { callId })).ok, true);
  prov.emit('offer', { callId, offer: { type: 'offer', sdp: fakeSdp('before') }, targetUserId: patient.id });
  await phoneEv.next('offer', (d) => d.offer.sdp === fakeSdp('before'));

  // Node A dies: the provider and the laptop lose their connection.
  const drops = [disconnected(prov), disconnected(laptop)];
  await a.kill();
  await Promise.all(drops);

  // They reconnect to node B (as a load balancer would send them) and resume the call.
  const prov2 = await connect(b, provider);
  const laptop2 = await connect(b, patient);
  const [prov2Ev, laptop2Ev] = [recorder(prov2), recorder(laptop2)];
  const resumed = await ask(prov2, 'reconnect-call', { callId });
  assert.equal(resumed.ok, true, JSON.stringify(resumed));
  assert.equal(resumed.status, 'active');
  assert.deepEqual([...resumed.participants].sort(), [provider.id, patient.id].sort());
  assert.equal((await ask(laptop2, 'reconnect-call', { callId })).ok, true);

  // The signaling exchange goes on, with the right fromUserId.
  prov2.emit('offer', { callId, offer: { type: 'offer', sdp: fakeSdp('after') }, targetUserId: patient.id });
  const offer = await phoneEv.next('offer', (d) => d.offer.sdp === fakeSdp('after'));
  assert.equal(offer.fromUserId, provider.id);
  await laptop2Ev.next('offer', (d) => d.offer.sdp === fakeSdp('after'));
  phone.emit('answer', { callId, answer: { type: 'answer', sdp: fakeSdp('answer') }, targetUserId: provider.id });
  assert.equal((await prov2Ev.next('answer')).fromUserId, patient.id);
  prov2.emit('ice-candidate', { callId, candidate: candidate(1) });
  assert.equal((await phoneEv.next('ice-candidate')).fromUserId, provider.id);

  // Past the dead node's heartbeat expiry and a whole grace period: nobody was reported left.
  await sleep((NODE_TTL + GRACE + 3) * 1000);
  assert.equal(phoneEv.events('participant-left').length, 0, JSON.stringify(phoneEv.events('participant-left')));
  assert.equal(prov2Ev.events('participant-left').length, 0);
  assert.equal(laptop2Ev.events('participant-left').length, 0);
  const details = await api(b, provider, 'GET', `/calls/${callId}`);
  assert.equal(details.body.status, 'active');
  prov2.emit('ice-candidate', { callId, candidate: candidate(2) });
  await phoneEv.next('ice-candidate', (d) => d.candidate.candidate.startsWith('candidate:2 '));

  const ended = await api(b, provider, 'POST', `/calls/${callId}/end`, { reason: 'done' });
  assert.equal(ended.status, 200, JSON.stringify(ended.body));
  await phoneEv.next('call-ended', (d) => d.callId === callId);
});

test('a user whose node died and who does not come back is reported left exactly once', async () => {
  const b = c.nodes.find((n) => n.name === 'b') ?? (await c.node('b'));
  const d = await c.node('d');
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(b, provider);
  const pat = await connect(d, patient);
  const provEv = recorder(prov);
  const callId = await createCall(b, provider, patient);
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId })).status, 'active');

  // Node D dies with the patient's only device. Node B takes its devices over once D's
  // heartbeat has expired, starting the patient's grace period.
  const killedAt = Date.now();
  await d.kill();
  const gone = await provEv.next('participant-disconnected', (e) => e.userId === patient.id, (NODE_TTL + 4) * 1000);
  assert.equal(gone.callId, callId);
  const left = await provEv.next('participant-left', (e) => e.userId === patient.id, (GRACE + 4) * 1000);
  assert.deepEqual(left, { callId, userId: patient.id, reason: 'disconnected' });
  assert.ok(Date.now() - killedAt >= GRACE * 1000, 'not before the grace period ran out');
  await sleep(3000);
  assert.equal(provEv.events('participant-left').length, 1, 'exactly one participant-left');
  assert.equal(provEv.events('participant-disconnected').length, 1, 'exactly one participant-disconnected');
  const details = await api(b, provider, 'GET', `/calls/${callId}`);
  assert.equal(details.body.status, 'active', 'the provider is still in the call');
});
