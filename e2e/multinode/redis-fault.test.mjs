// Redis goes away during calls and comes back (a Redis server of this test's own, started
// with the machine's command line, is shut down and started again, so the shared Redis and
// the suites running beside this one are not disturbed). Readiness fails on
// every node, signaling that needs other nodes is refused with `unavailable` (no panic),
// readiness recovers by itself, the calls go on across nodes, and no call record is lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { user, api, createCall, connect, recorder, ask, closeAll, fakeSdp, sleep } from '../signaling/helpers.mjs';
import { cluster, readyz, privateRedis } from './cluster.mjs';

let c;
let redis;
before(async () => {
  redis = await privateRedis();
  c = await cluster({ grace: 30, redisUrl: redis.url, redisCliFn: redis.cli });
});
after(async () => {
  if (process.env.E2E_SHOW_LOGS) for (const n of c.nodes) console.log(`--- node ${n.name}\n${n.logs()}`);
  closeAll();
  await c.stop();
  await redis.dispose();
});

async function until(what, check, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

test('redis stops and restarts during calls: readiness fails then recovers, calls go on, no record lost', async () => {
  const a = await c.node('a');
  const b = await c.node('b');
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(a, provider);
  const pat = await connect(b, patient);
  const [provEv, patEv] = [recorder(prov), recorder(pat)];

  // A call in progress across the nodes, and one already over.
  const live = await createCall(a, provider, patient);
  assert.equal((await ask(prov, 'join-call', { callId: live })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId: live })).status, 'active');
  prov.emit('offer', { callId: live, offer: { type: 'offer', sdp: fakeSdp('before') }, targetUserId: patient.id });
  await patEv.next('offer', (d) => d.offer.sdp === fakeSdp('before'));
  const done = await createCall(b, provider, patient);
  assert.equal((await api(b, provider, 'POST', `/calls/${done}/cancel`, { reason: 'changed plans' })).status, 200);
  const other = await createCall(b, provider, patient);
  // A second live call whose patient's connection drops while Redis is away.
  const provider2 = user('provider');
  const patient2 = user('patient');
  const prov2 = await connect(a, provider2);
  const pat2 = await connect(b, patient2);
  const prov2Ev = recorder(prov2);
  const live2 = await createCall(a, provider2, patient2);
  assert.equal((await ask(prov2, 'join-call', { callId: live2 })).ok, true);
  assert.equal((await ask(pat2, 'join-call', { callId: live2 })).status, 'active');

  let during;
  let duringRelay;
  let duringJoin;
  try {
    redis.stop();
    await until('both nodes to report not ready', async () => (await readyz(a)) === 503 && (await readyz(b)) === 503, 10000);
    // New signaling work is refused clearly while Redis is away.
    duringRelay = await ask(prov, 'ice-candidate', { callId: live, candidate: { candidate: 'candidate:9 1 udp 1 192.0.2.9 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } }, 8000);
    duringJoin = await ask(prov, 'join-call', { callId: other }, 8000);
    // The database is still there: a call placed now is recorded.
    during = await createCall(a, provider, patient);
    pat2.disconnect();
    await sleep(500);
  } finally {
    await redis.start();
  }
  assert.equal(duringRelay.error?.code, 'unavailable', JSON.stringify(duringRelay));
  assert.equal(duringJoin.error?.code, 'unavailable', JSON.stringify(duringJoin));
  for (const n of [a, b]) {
    const alive = await fetch(`${n.url}/healthz`);
    assert.equal(alive.status, 200, `node ${n.name} is alive`);
  }

  // Both nodes recover by themselves.
  await until('both nodes to be ready again', async () => (await readyz(a)) === 200 && (await readyz(b)) === 200);

  // The call goes on across nodes: relays (targeted too) reach the other node again.
  let n = 0;
  await until('a relay across nodes after the outage', async () => {
    n += 1;
    const r = await ask(prov, 'offer', { callId: live, offer: { type: 'offer', sdp: fakeSdp(`after${n}`) }, targetUserId: patient.id });
    if (!r.ok) return false;
    try {
      await patEv.next('offer', (d) => d.offer.sdp === fakeSdp(`after${n}`), 1000);
      return true;
    } catch {
      return false;
    }
  });
  const answer = await ask(pat, 'answer', { callId: live, answer: { type: 'answer', sdp: fakeSdp('answer') }, targetUserId: provider.id });
  assert.equal(answer.ok, true, JSON.stringify(answer));
  assert.equal((await provEv.next('answer')).fromUserId, patient.id);
  const media = await ask(pat, 'update-media', { callId: live, videoEnabled: false });
  assert.equal(media.ok, true, JSON.stringify(media));
  await provEv.next('participant-media-updated', (d) => d.userId === patient.id);
  // New work is accepted again.
  const joinOther = await ask(prov, 'join-call', { callId: other });
  assert.equal(joinOther.ok, true, JSON.stringify(joinOther));
  assert.equal(provEv.events('participant-left').length + patEv.events('participant-left').length, 0, 'nobody was reported left');

  // The drop during the outage was kept and given to presence once Redis was back: the
  // other side hears of it, and the patient is not counted as connected.
  const dropped = await prov2Ev.next('participant-disconnected', (d) => d.userId === patient2.id, 10000);
  assert.equal(dropped.callId, live2);
  const rejoin = await ask(prov2, 'join-call', { callId: live2 });
  assert.deepEqual(rejoin.participants, [provider2.id], JSON.stringify(rejoin));

  // Every call record is there, in the state it should be.
  const statuses = {};
  for (const [name, id] of Object.entries({ live, done, other, during })) {
    const r = await api(b, provider, 'GET', `/calls/${id}`);
    assert.equal(r.status, 200, `${name}: ${JSON.stringify(r.body)}`);
    statuses[name] = r.body.status;
  }
  assert.deepEqual(statuses, { live: 'active', done: 'cancelled', other: 'ringing', during: 'ringing' });
});
