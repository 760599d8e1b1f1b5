// Object-level authorization over Socket.IO events: every client event × the call's
// patient, another patient, the call's provider, another provider and an admin × their own
// and a foreign call. Strangers get exactly what a non-existent call gets (no leak), the
// call's members hear nothing from them, and the denials SPEC asks for are audited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { user, createCall, connect, recorder, ask, closeAll, fakeSdp, sleep } from '../signaling/helpers.mjs';
import { startServer, auditOf } from './server.mjs';

const EVENTS = [
  'join-call',
  'update-media',
  'connection-quality',
  'offer',
  'answer',
  'ice-candidate',
  'reconnect-call',
  'leave-call',
];
const RELAYS = new Set(['offer', 'answer', 'ice-candidate']);

/** A well-formed payload of `event` about `callId`, aimed at `target` when it relays. */
function payload(event, callId, target) {
  const t = target ? { targetUserId: target } : {};
  switch (event) {
    case 'join-call':
    case 'reconnect-call':
      return { callId };
    case 'leave-call':
      return { callId, reason: 'done' };
    case 'offer':
      return { callId, offer: { type: 'offer', sdp: fakeSdp('offer') }, ...t };
    case 'answer':
      return { callId, answer: { type: 'answer', sdp: fakeSdp('answer') }, ...t };
    case 'ice-candidate':
      return { callId, candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 1 typ host', sdpMid: '0' }, ...t };
    case 'update-media':
      return { callId, audioEnabled: false };
    case 'connection-quality':
      return { callId, metrics: { bandwidth: 2000, latency: 20, packetLoss: 0, jitter: 2 } };
  }
  throw new Error(event);
}

let server;
let admin;
const calls = {};
before(async () => {
  server = await startServer({ SIGNALING_EVENTS_PER_SECOND: '1000', SIGNALING_EVENT_BURST: '1000' });
  admin = user('admin');
  for (const name of ['A', 'B']) {
    const provider = user('provider');
    const patient = user('patient');
    const id = await createCall(server, provider, patient);
    // Both members are in the call on a device that records everything it hears.
    const prov = await connect(server, provider);
    const pat = await connect(server, patient);
    const heard = { provider: recorder(prov), patient: recorder(pat) };
    assert.equal((await ask(prov, 'join-call', { callId: id })).ok, true);
    assert.equal((await ask(pat, 'join-call', { callId: id })).ok, true);
    calls[name] = { id, provider, patient, heard };
  }
  await sleep(200);
});
after(async () => {
  closeAll();
  await server.stop();
});

/** The reply, with the call id taken out so that two refusals can be compared. */
const shape = (reply, callId) => JSON.parse(JSON.stringify(reply).replaceAll(callId, '<call>'));

const signalingEvents = (rec) =>
  rec.seen.filter((e) => RELAYS.has(e.event) || e.event.startsWith('participant-'));

for (const [label, who] of [
  ['another patient', (c) => calls[c === 'A' ? 'B' : 'A'].patient],
  ['another provider', (c) => calls[c === 'A' ? 'B' : 'A'].provider],
]) {
  test(`${label}: every event on a foreign call is refused exactly like a missing call, and reaches no one`, async () => {
    const c = calls.A;
    const stranger = who('A');
    const before = { provider: signalingEvents(c.heard.provider).length, patient: signalingEvents(c.heard.patient).length };
    // A fresh device, and the stranger's device that is already in its own call B.
    const fresh = await connect(server, stranger);
    const own = calls.B.provider.id === stranger.id ? calls.B.provider : calls.B.patient;
    const inOwnCall = await connect(server, own);
    assert.equal((await ask(inOwnCall, 'join-call', { callId: calls.B.id })).ok, true, 'the stranger may use its own call');
    const freshHeard = recorder(fresh);
    for (const socket of [fresh, inOwnCall]) {
      for (const event of EVENTS) {
        for (const target of RELAYS.has(event) ? [c.patient.id, c.provider.id, undefined] : [undefined]) {
          const missing = randomUUID();
          const onForeign = await ask(socket, event, payload(event, c.id, target));
          const onMissing = await ask(socket, event, payload(event, missing, target));
          assert.ok(onForeign.error, `${event} on a foreign call was accepted: ${JSON.stringify(onForeign)}`);
          assert.deepEqual(shape(onForeign, c.id), shape(onMissing, missing), `${event}: a foreign call answers like a missing one`);
        }
      }
    }
    // From inside its own call the stranger still cannot reach call A's members.
    for (const event of RELAYS) {
      for (const target of [c.patient.id, c.provider.id]) {
        const r = await ask(inOwnCall, event, payload(event, calls.B.id, target));
        assert.equal(r.error?.code, 'target-not-in-call', `${event} to a member of another call: ${JSON.stringify(r)}`);
      }
    }
    await sleep(300);
    assert.equal(signalingEvents(c.heard.provider).length, before.provider, 'the call\'s provider heard nothing');
    assert.equal(signalingEvents(c.heard.patient).length, before.patient, 'the call\'s patient heard nothing');
    assert.deepEqual(freshHeard.seen.map((e) => e.event), [], 'the stranger heard nothing of call A');

    // Audited: the refused join (access rules) and each refused relay, on call A.
    const mine = (await auditOf(server, admin, c.id)).filter((e) => e.actorId === stranger.id);
    const joins = mine.filter((e) => e.action === 'call.join');
    assert.ok(joins.length >= 2 && joins.every((e) => e.outcome === 'denied'), `refused joins audited: ${JSON.stringify(joins)}`);
    const relays = mine.filter((e) => e.action === 'signal.relay');
    assert.ok(relays.every((e) => e.outcome === 'denied'));
    // Each socket writes the first refusals of a kind one by one and counts the rest into a
    // summary when it goes (the flood rule, counted exactly in sockets.test.mjs): every
    // refused relay kind shows up on call A, from both of the stranger's sockets.
    for (const event of RELAYS) {
      const onA = relays.filter((e) => e.detail.event === event);
      assert.ok(onA.length >= 2 && onA.length <= 6, `refused ${event}s on call A audited: ${onA.length}`);
      assert.equal(new Set(onA.map((e) => e.deviceId)).size, 2, `from both sockets: ${JSON.stringify(onA.map((e) => e.deviceId))}`);
    }
    const resumes = mine.filter((e) => e.detail?.event === 'reconnect-call' || e.action === 'call.reconnect');
    assert.ok(resumes.length >= 2 && resumes.every((e) => e.outcome === 'denied'), `refused reconnects audited: ${JSON.stringify(mine.map((e) => [e.action, e.detail]))}`);
    for (const e of mine) {
      assert.equal(e.actorRole, stranger.role);
      assert.doesNotMatch(JSON.stringify(e.detail), /v=0|candidate:/, 'no signaling body in the audit');
    }
    fresh.close();
    inOwnCall.close();
  });
}

for (const [label, member] of [
  ['the call\'s patient', (c) => [c.patient, c.provider]],
  ['the call\'s provider', (c) => [c.provider, c.patient]],
  ['an admin', (c) => [admin, c.patient]],
]) {
  test(`${label}: every event on the call works from a second device and reaches the other member`, async () => {
    const c = calls.B;
    const [actor, peer] = member(c);
    const socket = await connect(server, actor);
    const peerHeard = c.heard[peer.role];
    for (const event of EVENTS) {
      const target = RELAYS.has(event) ? peer.id : undefined;
      const r = await ask(socket, event, payload(event, c.id, target));
      assert.equal(r.ok, true, `${event}: ${JSON.stringify(r)}`);
      if (RELAYS.has(event)) {
        const got = await peerHeard.next(event, (d) => d.fromUserId === actor.id);
        assert.equal(got.callId, c.id);
      }
    }
    const mine = (await auditOf(server, admin, c.id)).filter((e) => e.actorId === actor.id);
    assert.ok(mine.some((e) => e.action === 'call.join' && e.outcome === 'success' && e.actorRole === actor.role), 'the join is audited');
    assert.ok(mine.some((e) => e.action === 'call.leave' && e.outcome === 'success'), 'the leave is audited');
    socket.close();
  });
}
