// Two vytalcall processes on one PostgreSQL database and one Redis: the provider on node A,
// the patient's phone on node B and laptop on node A. The whole call works across nodes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { user, api, createCall, connect, recorder, ask, closeAll, fakeSdp, sleep } from '../signaling/helpers.mjs';
import { cluster } from './cluster.mjs';

let c;
let a;
let b;
before(async () => {
  c = await cluster({ grace: 3 });
  a = await c.node('a');
  b = await c.node('b');
});
after(async () => {
  closeAll();
  await c.stop();
});

const candidate = (n) => ({ candidate: `candidate:${n} 1 udp 2122260223 192.0.2.${n} 5000${n} typ host`, sdpMid: '0', sdpMLineIndex: 0 });

test('both nodes are ready and report redis', async () => {
  for (const n of [a, b]) {
    const r = await fetch(`${n.url}/readyz`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ready', database: 'ok', redis: 'ok' });
  }
});

test('a call runs from ringing to its end with its participants on different nodes', async () => {
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(a, provider);
  const phone = await connect(b, patient, { transports: ['websocket'] });
  const laptop = await connect(a, patient, { transports: ['polling'] });
  const [provEv, phoneEv, laptopEv] = [recorder(prov), recorder(phone), recorder(laptop)];

  // Created through node A: both devices ring, the one on node B included.
  const callId = await createCall(a, provider, patient);
  for (const ev of [phoneEv, laptopEv]) {
    const ring = await ev.next('incoming-call', (d) => d.callId === callId);
    assert.equal(ring.from, provider.id);
    assert.equal(ring.roomId, callId);
  }
  assert.equal(provEv.events('incoming-call').length, 0, 'the caller does not ring');

  const provJoin = await ask(prov, 'join-call', { callId, videoEnabled: true, audioEnabled: true });
  assert.equal(provJoin.ok, true, JSON.stringify(provJoin));
  assert.equal(provJoin.status, 'ringing');

  // The patient answers on node B: the call is active and both nodes know who is in it.
  const patJoin = await ask(phone, 'join-call', { callId, videoEnabled: true, audioEnabled: true });
  assert.equal(patJoin.ok, true, JSON.stringify(patJoin));
  assert.equal(patJoin.status, 'active');
  assert.deepEqual([...patJoin.participants].sort(), [provider.id, patient.id].sort());
  await laptopEv.next('call-answered', (d) => d.callId === callId && d.answeredBy === patient.id);
  await provEv.next('call-answered', (d) => d.callId === callId);
  const joined = await provEv.next('participant-joined', (d) => d.userId === patient.id);
  assert.equal(joined.reconnected, false);

  // Offer and answer across nodes, with the server-set fromUserId.
  prov.emit('offer', { callId, offer: { type: 'offer', sdp: fakeSdp('offer', 3000) }, targetUserId: patient.id });
  const offer = await phoneEv.next('offer');
  assert.equal(offer.fromUserId, provider.id);
  assert.equal(offer.offer.sdp, fakeSdp('offer', 3000));
  phone.emit('answer', { callId, answer: { type: 'answer', sdp: fakeSdp('answer') }, targetUserId: provider.id });
  const answer = await provEv.next('answer');
  assert.equal(answer.fromUserId, patient.id);

  // ICE both ways, in order.
  for (let n = 1; n <= 5; n++) prov.emit('ice-candidate', { callId, candidate: candidate(n), targetUserId: patient.id });
  for (let n = 6; n <= 10; n++) phone.emit('ice-candidate', { callId, candidate: candidate(n) });
  await phoneEv.next('ice-candidate', (d) => d.candidate.candidate.startsWith('candidate:5 '));
  await provEv.next('ice-candidate', (d) => d.candidate.candidate.startsWith('candidate:10 '));
  assert.deepEqual(phoneEv.events('ice-candidate').map((d) => d.candidate.candidate.split(' ')[0]), [1, 2, 3, 4, 5].map((n) => `candidate:${n}`));
  assert.deepEqual(provEv.events('ice-candidate').map((d) => d.candidate.candidate.split(' ')[0]), [6, 7, 8, 9, 10].map((n) => `candidate:${n}`));
  assert.ok(phoneEv.events('ice-candidate').every((d) => d.fromUserId === provider.id));
  assert.ok(provEv.events('ice-candidate').every((d) => d.fromUserId === patient.id));
  assert.equal(laptopEv.events('offer').length + laptopEv.events('ice-candidate').length, 0, 'a device that did not join hears no signaling');

  // A target on another node is known as a participant there.
  const targeted = await ask(phone, 'ice-candidate', { callId, candidate: candidate(11), targetUserId: provider.id });
  assert.equal(targeted.ok, true, JSON.stringify(targeted));
  const stranger = await ask(phone, 'ice-candidate', { callId, candidate: candidate(12), targetUserId: user('provider').id });
  assert.equal(stranger.error.code, 'target-not-in-call');

  // The laptop (node A) joins too: another device, nothing changes for the provider.
  const lapJoin = await ask(laptop, 'join-call', { callId });
  assert.equal(lapJoin.ok, true, JSON.stringify(lapJoin));
  prov.emit('offer', { callId, offer: { type: 'offer', sdp: fakeSdp('offer2') }, targetUserId: patient.id });
  await phoneEv.next('offer', (d) => d.offer.sdp === fakeSdp('offer2'));
  await laptopEv.next('offer', (d) => d.offer.sdp === fakeSdp('offer2'));

  // Media changes reach the peer on the other node.
  const media = await ask(phone, 'update-media', { callId, videoEnabled: false, audioEnabled: true, screenShareEnabled: false });
  assert.equal(media.ok, true);
  const updated = await provEv.next('participant-media-updated');
  assert.deepEqual(updated, { callId, userId: patient.id, videoEnabled: false, audioEnabled: true, screenShareEnabled: false });

  // The phone leaves: the patient is still in the call on the laptop, so nobody hears a leave.
  assert.equal((await ask(phone, 'leave-call', { callId })).ok, true);
  await sleep(300);
  assert.equal(provEv.events('participant-left').length, 0, 'the patient is still there on another device');
  // The laptop leaves: the patient is gone.
  assert.equal((await ask(laptop, 'leave-call', { callId })).ok, true);
  const left = await provEv.next('participant-left', (d) => d.userId === patient.id);
  assert.equal(left.reason, 'left');
  await sleep(300);
  assert.equal(provEv.events('participant-left').length, 1);

  // Ended through node B: the provider on node A hears it and the room closes on both nodes.
  const ended = await api(b, provider, 'POST', `/calls/${callId}/end`, { reason: 'consultation finished' });
  assert.equal(ended.status, 200, JSON.stringify(ended.body));
  const e = await provEv.next('call-ended', (d) => d.callId === callId);
  assert.equal(e.reason, 'consultation finished');
  await sleep(300);
  const afterEnd = await ask(prov, 'ice-candidate', { callId, candidate: candidate(13) });
  assert.equal(afterEnd.error.code, 'not-joined', 'the room is closed on the other node too');
  const details = await api(a, provider, 'GET', `/calls/${callId}`);
  assert.equal(details.body.status, 'ended');
  assert.equal(details.body.participants.length, 3, JSON.stringify(details.body.participants));
});

test('a grace period that runs out is reported by exactly one node', async () => {
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(a, provider);
  const watcher = await connect(b, provider); // the provider's second device, on node B
  const pat = await connect(b, patient);
  const [provEv, watchEv] = [recorder(prov), recorder(watcher)];
  const callId = await createCall(b, provider, patient);
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(watcher, 'join-call', { callId })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId })).ok, true);

  pat.io.engine.close();
  await provEv.next('participant-disconnected', (d) => d.userId === patient.id);
  const left = await provEv.next('participant-left', (d) => d.userId === patient.id, 8000);
  assert.deepEqual(left, { callId, userId: patient.id, reason: 'disconnected' });
  await watchEv.next('participant-left', (d) => d.userId === patient.id);
  await sleep(2500);
  assert.equal(provEv.events('participant-left').length, 1, 'one participant-left on node A');
  assert.equal(watchEv.events('participant-left').length, 1, 'one participant-left on node B');
});
