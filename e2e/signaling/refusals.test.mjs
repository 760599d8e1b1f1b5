// What the server refuses, and that each refusal is clear and changes nothing: bad tokens,
// expiring tokens, strangers, targets outside the call, forged senders, malformed and
// oversized payloads, floods.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import jwt from 'jsonwebtoken';
import { startServer, user, api, createCall, connect, recorder, ask, closeAll, fakeSdp, sleep, SECRET } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer({
    SIGNALING_MAX_EVENT_BYTES: String(128 * 1024),
    SIGNALING_EVENTS_PER_SECOND: '20',
    SIGNALING_EVENT_BURST: '40',
  });
});
after(async () => {
  closeAll();
  await server.stop();
});

async function refusal(auth) {
  const err = await connect(server, null, { auth }).then(
    () => assert.fail('the connection was accepted'),
    (e) => e,
  );
  return err.message;
}

/** A provider and a patient, both joined to a fresh call. */
async function joinedPair() {
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const callId = await createCall(server, provider, patient);
  const [provEv, patEv] = [recorder(prov), recorder(pat)];
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId })).ok, true);
  return { provider, patient, prov, pat, provEv, patEv, callId };
}

async function participants(who, callId) {
  const r = await api(server, who, 'GET', `/calls/${callId}`);
  return r.body;
}

test('a handshake without a token, with a bad token or with an expired token is refused with the reason', async () => {
  assert.match(await refusal({}), /missing/);
  assert.match(await refusal({ token: '' }), /missing/);
  assert.match(await refusal({ token: 42 }), /malformed/);
  assert.match(await refusal({ token: 'not.a.token' }), /malformed/);
  const wrongKey = jwt.sign({ sub: crypto.randomUUID(), role: 'patient' }, 'another-secret', { expiresIn: 60 });
  assert.match(await refusal({ token: wrongKey }), /signature/);
  const expired = jwt.sign({ sub: crypto.randomUUID(), role: 'patient', exp: Math.floor(Date.now() / 1000) - 10 }, SECRET);
  assert.match(await refusal({ token: expired }), /expired/);
  const noRole = jwt.sign({ sub: crypto.randomUUID() }, SECRET, { expiresIn: 60 });
  assert.match(await refusal({ token: noRole }), /role/);
});

test('a connected socket is disconnected when its token expires, and told why', async () => {
  const patient = user('patient', { ttlSeconds: 2 });
  const socket = await connect(server, patient);
  const ev = recorder(socket);
  const gone = new Promise((resolve) => socket.on('disconnect', resolve));
  const error = await ev.next('error', () => true, 5000);
  assert.equal(error.error.code, 'token-expired');
  assert.equal(await gone, 'io server disconnect');
});

test('nobody can join a call they are not part of, and the attempt changes nothing', async () => {
  const provider = user('provider');
  const patient = user('patient');
  const stranger = user('patient');
  const callId = await createCall(server, provider, patient);
  const s = await connect(server, stranger);
  const reply = await ask(s, 'join-call', { callId });
  assert.equal(reply.error.code, 'call-not-found');
  assert.match(reply.error.message, /not found/);
  const unknown = await ask(s, 'join-call', { callId: crypto.randomUUID() });
  assert.equal(unknown.error.code, 'call-not-found', 'a stranger cannot tell a hidden call from a missing one');
  const details = await participants(provider, callId);
  assert.equal(details.status, 'ringing');
  assert.equal(details.participants.length, 0);
  // The stranger also hears none of the call's signaling.
  const ev = recorder(s);
  const provSocket = await connect(server, provider);
  await ask(provSocket, 'join-call', { callId });
  provSocket.emit('ice-candidate', { callId, candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 1 typ host', sdpMid: '0' } });
  await sleep(300);
  assert.equal(ev.seen.length, 0);
});

test('signaling is refused before joining, to a target outside the call, and to an unknown event', async () => {
  const { prov, patEv, callId, patient } = await joinedPair();
  const outsider = user('patient');
  const o = await connect(server, outsider);
  const oEv = recorder(o);
  const offer = { type: 'offer', sdp: fakeSdp('offer') };

  const notJoined = await ask(o, 'offer', { callId, offer, targetUserId: patient.id });
  assert.equal(notJoined.error.code, 'not-joined');
  const outside = await ask(prov, 'offer', { callId, offer, targetUserId: outsider.id });
  assert.equal(outside.error.code, 'target-not-in-call');
  const unknownEvent = await ask(prov, 'steal-call', { callId });
  assert.equal(unknownEvent.error.code, 'unknown-event');
  await sleep(300);
  assert.equal(oEv.seen.length, 0, 'the outsider received nothing');
  assert.equal(patEv.events('offer').length, 0, 'refused offers went nowhere');
});

test('a forged fromUserId is replaced by the real sender', async () => {
  const { prov, provider, patEv, callId, patient } = await joinedPair();
  prov.emit('offer', {
    callId,
    offer: { type: 'offer', sdp: fakeSdp('offer'), smuggled: 'x' },
    targetUserId: patient.id,
    fromUserId: patient.id,
  });
  const got = await patEv.next('offer');
  assert.equal(got.fromUserId, provider.id);
  assert.deepEqual(Object.keys(got.offer).sort(), ['sdp', 'type'], 'only the description fields are relayed');
});

test('a malformed payload of every event is refused naming the field, with or without an ack', async () => {
  const { prov, provEv, patEv, callId, provider } = await joinedPair();
  const cases = [
    ['join-call', { callId: 'nope' }, 'callId'],
    ['join-call', { callId, videoEnabled: 'yes' }, 'videoEnabled'],
    ['leave-call', { callId, reason: { text: 'x' } }, 'reason'],
    ['leave-call', 'just a string', 'payload'],
    ['offer', { callId, offer: 'v=0' }, 'offer'],
    ['offer', { callId, offer: { type: 'answer', sdp: 'v=0' } }, 'offer'],
    ['offer', { callId, offer: { type: 'offer', sdp: 'v=0' }, targetUserId: 'bob' }, 'targetUserId'],
    ['answer', { callId, answer: { type: 'answer' } }, 'answer'],
    ['answer', {}, 'callId'],
    ['ice-candidate', { callId, candidate: 'candidate:1' }, 'candidate'],
    ['ice-candidate', { callId, candidate: { candidate: 'candidate:1' } }, 'candidate'],
    ['update-media', { callId }, 'videoEnabled'],
    ['update-media', { callId, audioEnabled: 1 }, 'audioEnabled'],
    ['connection-quality', { callId, metrics: { bandwidth: -1, latency: 1, packetLoss: 1, jitter: 1 } }, 'bandwidth'],
    ['connection-quality', { callId, metrics: { bandwidth: 1, latency: 1, packetLoss: 101, jitter: 1 } }, 'packetLoss'],
    ['connection-quality', { callId }, 'metrics'],
    ['reconnect-call', { callId: 12 }, 'callId'],
  ];
  for (const [event, data, field] of cases) {
    const reply = await ask(prov, event, data);
    assert.equal(reply.error?.code, 'invalid-payload', `${event} ${JSON.stringify(data)} -> ${JSON.stringify(reply)}`);
    assert.ok(reply.error.message.startsWith(`${field}:`), `${event}: ${reply.error.message}`);
  }
  // Without an ack the same refusal arrives as an `error` event naming the event.
  prov.emit('update-media', { callId, videoEnabled: 'off' });
  const err = await provEv.next('error');
  assert.equal(err.event, 'update-media');
  assert.equal(err.error.code, 'invalid-payload');
  // Nothing changed: the peer heard nothing, the call and its participants are as before.
  await sleep(200);
  assert.equal(patEv.seen.filter((e) => !['incoming-call', 'call-answered', 'room-participants', 'participant-joined'].includes(e.event)).length, 0, JSON.stringify(patEv.seen));
  const details = await participants(provider, callId);
  assert.equal(details.status, 'active');
  assert.equal(details.participants.length, 2);
  assert.ok(details.participants.every((p) => p.leftAt === null && p.videoEnabled === true));
});

test('an SDP of 50 KB passes, 1 MB is refused, and the connection and its peers carry on', async () => {
  const { prov, pat, patEv, provEv, callId, patient, provider } = await joinedPair();
  const big = fakeSdp('offer', 50 * 1024);
  assert.equal((await ask(prov, 'offer', { callId, offer: { type: 'offer', sdp: big }, targetUserId: patient.id })).ok, true);
  assert.equal((await patEv.next('offer')).offer.sdp.length, big.length);

  const huge = await ask(prov, 'offer', { callId, offer: { type: 'offer', sdp: fakeSdp('offer', 1024 * 1024) }, targetUserId: patient.id }, 10000);
  assert.equal(huge.error.code, 'payload-too-large');
  assert.ok(prov.connected, 'the sender stays connected');
  await sleep(200);
  assert.equal(patEv.events('offer').length, 1, 'the huge offer was not relayed');

  pat.emit('answer', { callId, answer: { type: 'answer', sdp: fakeSdp('answer') }, targetUserId: provider.id });
  assert.equal((await provEv.next('answer')).fromUserId, patient.id, 'signaling still flows both ways');
});

test('a flood from one socket is rate-limited while the others are served as usual', async () => {
  const { prov, pat, provEv, patEv, callId, provider, patient } = await joinedPair();
  const candidate = { candidate: 'candidate:9 1 udp 1 192.0.2.9 9 typ host', sdpMid: '0' };
  for (let i = 0; i < 300; i++) pat.emit('ice-candidate', { callId, candidate, targetUserId: provider.id });
  const limited = await patEv.next('error', (e) => e.error.code === 'rate-limited');
  assert.equal(limited.event, 'ice-candidate');
  // The provider, meanwhile, is served normally.
  for (let i = 0; i < 10; i++) {
    const r = await ask(prov, 'ice-candidate', { callId, candidate, targetUserId: patient.id });
    assert.equal(r.ok, true, JSON.stringify(r));
  }
  // The allowed burst arrives (however slowly); then a little longer for any excess to show.
  const deadline = Date.now() + 20000;
  while (provEv.events('ice-candidate').length < 39 && Date.now() < deadline) await sleep(50);
  await sleep(300);
  const relayed = provEv.events('ice-candidate').length;
  // The burst of 40, less the join-call that spent one token (more if tokens refilled while
  // the flood arrived), and far from all 300.
  assert.ok(relayed >= 39 && relayed < 300, `only the allowed burst was relayed (${relayed})`);
  assert.ok(pat.connected, 'the flooding socket is limited, not dropped');
  // After a pause the flooding socket may speak again.
  await sleep(1500);
  const r = await ask(pat, 'update-media', { callId, audioEnabled: false });
  assert.equal(r.ok, true, JSON.stringify(r));
});
