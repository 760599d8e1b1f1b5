// The whole call, as a provider and a patient with two devices live it: ringing on every
// device, answering from one, the exchange of offers, answers and ICE candidates, media
// changes, a dropped device that comes back, one that does not, and the end of the call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, user, api, createCall, connect, recorder, ask, closeAll, fakeSdp, sleep } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer({ RECONNECT_GRACE_SECONDS: '2' });
});
after(async () => {
  closeAll();
  await server.stop();
});

const candidate = (n) => ({ candidate: `candidate:${n} 1 udp 2122260223 192.0.2.${n} 5000${n} typ host`, sdpMid: '0', sdpMLineIndex: 0 });

test('a provider calls a patient with two devices and the call runs from ringing to its end', async () => {
  const provider = user('provider');
  const consultant = user('provider');
  const patient = user('patient');
  const prov = await connect(server, provider);
  const consult = await connect(server, consultant);
  const consultEv = recorder(consult);
  const phone = await connect(server, patient, { transports: ['websocket'] });
  const laptop = await connect(server, patient, { transports: ['polling'] });
  const [provEv, phoneEv, laptopEv] = [recorder(prov), recorder(phone), recorder(laptop)];

  // The provider places the call over REST: both of the patient's devices ring.
  const callId = await createCall(server, provider, patient, { additionalProviderIds: [consultant.id] });
  const ringPhone = await phoneEv.next('incoming-call', (d) => d.callId === callId);
  const ringLaptop = await laptopEv.next('incoming-call', (d) => d.callId === callId);
  for (const ring of [ringPhone, ringLaptop]) {
    assert.equal(ring.from, provider.id);
    assert.equal(ring.callType, 'video');
    assert.equal(ring.roomId, callId);
    assert.ok('scheduledAt' in ring);
  }
  assert.equal((await consultEv.next('incoming-call')).callId, callId, 'the other provider rings too');
  assert.equal(provEv.events('incoming-call').length, 0, 'the caller does not ring');

  // The provider joins the room and waits; the call is still ringing.
  const provJoin = await ask(prov, 'join-call', { callId, videoEnabled: true, audioEnabled: true });
  assert.equal(provJoin.ok, true);
  assert.equal(provJoin.status, 'ringing');

  // The patient answers from the phone by joining: the call becomes active, everyone hears
  // call-answered, and the laptop stops ringing.
  const patJoin = await ask(phone, 'join-call', { callId, videoEnabled: true, audioEnabled: true });
  assert.equal(patJoin.ok, true);
  assert.equal(patJoin.status, 'active');
  assert.deepEqual([...patJoin.participants].sort(), [provider.id, patient.id].sort());
  const answeredLaptop = await laptopEv.next('call-answered', (d) => d.callId === callId);
  assert.equal(answeredLaptop.answeredBy, patient.id);
  await provEv.next('call-answered', (d) => d.callId === callId && d.answeredBy === patient.id);
  const rooms = await phoneEv.next('room-participants', (d) => d.callId === callId);
  assert.deepEqual([...rooms.participants].sort(), [provider.id, patient.id].sort());
  const joined = await provEv.next('participant-joined', (d) => d.userId === patient.id);
  assert.equal(joined.callId, callId);
  assert.equal(joined.videoEnabled, true);
  assert.equal(joined.audioEnabled, true);

  // Offer and answer, each to its target, with the server-set fromUserId.
  prov.emit('offer', { callId, offer: { type: 'offer', sdp: fakeSdp('offer') }, targetUserId: patient.id });
  const offer = await phoneEv.next('offer');
  assert.equal(offer.fromUserId, provider.id);
  assert.equal(offer.offer.type, 'offer');
  assert.equal(offer.offer.sdp, fakeSdp('offer'));
  phone.emit('answer', { callId, answer: { type: 'answer', sdp: fakeSdp('answer') }, targetUserId: offer.fromUserId });
  const answer = await provEv.next('answer');
  assert.equal(answer.fromUserId, patient.id);
  assert.equal(answer.answer.sdp, fakeSdp('answer'));

  // ICE both ways, in order; without targetUserId the candidate goes to the other side.
  for (let n = 1; n <= 3; n++) prov.emit('ice-candidate', { callId, candidate: candidate(n), targetUserId: patient.id });
  for (let n = 4; n <= 6; n++) phone.emit('ice-candidate', { callId, candidate: candidate(n) });
  await phoneEv.next('ice-candidate', (d) => d.candidate.candidate.startsWith('candidate:3 '));
  await provEv.next('ice-candidate', (d) => d.candidate.candidate.startsWith('candidate:6 '));
  assert.deepEqual(phoneEv.events('ice-candidate').map((d) => d.candidate.candidate.split(' ')[0]), ['candidate:1', 'candidate:2', 'candidate:3']);
  assert.ok(phoneEv.events('ice-candidate').every((d) => d.fromUserId === provider.id && d.callId === callId));
  assert.ok(provEv.events('ice-candidate').every((d) => d.fromUserId === patient.id));
  assert.equal(laptopEv.events('offer').length + laptopEv.events('ice-candidate').length, 0, 'a device that did not join hears no signaling');

  // Media changes reach the peer.
  const media = await ask(phone, 'update-media', { callId, videoEnabled: false, audioEnabled: true, screenShareEnabled: false });
  assert.equal(media.ok, true);
  const updated = await provEv.next('participant-media-updated');
  assert.deepEqual(updated, { callId, userId: patient.id, videoEnabled: false, audioEnabled: true, screenShareEnabled: false });

  // The phone drops (no leave-call) and the laptop resumes within the grace period.
  phone.io.engine.close();
  const dropped = await provEv.next('participant-disconnected', (d) => d.userId === patient.id);
  assert.equal(dropped.callId, callId);
  assert.ok(dropped.timestamp);
  const resumed = await ask(laptop, 'reconnect-call', { callId });
  assert.equal(resumed.ok, true);
  assert.equal(resumed.resumed, true);
  const back = await provEv.next('participant-joined', (d) => d.userId === patient.id && d.reconnected === true);
  assert.equal(back.callId, callId);
  laptop.emit('ice-candidate', { callId, candidate: candidate(7) });
  await provEv.next('ice-candidate', (d) => d.candidate.candidate.startsWith('candidate:7 '));

  // The second provider's device drops and does not come back: after the grace period the
  // others hear participant-left with reason "disconnected".
  const consultJoin = await ask(consult, 'join-call', { callId });
  assert.equal(consultJoin.ok, true);
  await provEv.next('participant-joined', (d) => d.userId === consultant.id);
  consult.io.engine.close();
  await provEv.next('participant-disconnected', (d) => d.userId === consultant.id);
  const left = await laptopEv.next('participant-left', (d) => d.userId === consultant.id, 6000);
  assert.deepEqual(left, { callId, userId: consultant.id, reason: 'disconnected' });
  assert.equal(provEv.events('participant-left').filter((d) => d.userId === patient.id).length, 0, 'the patient who came back is not reported left');

  // The provider ends the call over REST: everyone hears call-ended, and the room is closed.
  const ended = await api(server, provider, 'POST', `/calls/${callId}/end`, { reason: 'consultation finished' });
  assert.equal(ended.status, 200, JSON.stringify(ended.body));
  for (const ev of [provEv, laptopEv]) {
    const e = await ev.next('call-ended', (d) => d.callId === callId);
    assert.equal(e.reason, 'consultation finished');
  }
  const after = await ask(laptop, 'ice-candidate', { callId, candidate: candidate(8) });
  assert.equal(after.error.code, 'not-joined', 'the room is closed after the end');

  // Every device's join and leave was recorded with times.
  const details = await api(server, provider, 'GET', `/calls/${callId}`);
  assert.equal(details.body.status, 'ended');
  const rows = details.body.participants;
  assert.equal(rows.length, 4, JSON.stringify(rows)); // provider, phone, laptop, consultant
  assert.ok(rows.every((r) => r.joinedAt && r.leftAt), JSON.stringify(rows));
  assert.deepEqual(rows.map((r) => r.leaveReason).sort(), ['consultation finished', 'consultation finished', 'disconnected', 'disconnected']);
});

test('a participant who drops and does not come back is reported left, and an empty call ends', async () => {
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const [provEv, patEv] = [recorder(prov), recorder(pat)];
  const callId = await createCall(server, provider, patient);
  await ask(prov, 'join-call', { callId });
  await ask(pat, 'join-call', { callId });

  pat.io.engine.close();
  await provEv.next('participant-disconnected', (d) => d.userId === patient.id);
  const left = await provEv.next('participant-left', (d) => d.userId === patient.id, 6000);
  assert.deepEqual(left, { callId, userId: patient.id, reason: 'disconnected' });
  assert.equal(patEv.events('participant-left').length, 0);

  // A join after the grace period is a fresh arrival, not a resumption.
  const again = await connect(server, patient);
  const reply = await ask(again, 'reconnect-call', { callId });
  assert.equal(reply.error.code, 'not-in-call');
  const fresh = await ask(again, 'join-call', { callId });
  assert.equal(fresh.ok, true);
  assert.equal(fresh.resumed, false);

  // Everyone drops: after the grace period the call ends with a reason.
  again.io.engine.close();
  prov.io.engine.close();
  // The grace period (a few seconds here) runs out on a loaded machine too: wait for it.
  let details;
  const deadline = Date.now() + 30000;
  do {
    await sleep(250);
    details = await api(server, provider, 'GET', `/calls/${callId}`);
  } while (details.body.status !== 'failed' && Date.now() < deadline);
  assert.equal(details.body.status, 'failed');
  assert.equal(details.body.endReason, 'all participants disconnected');
});
