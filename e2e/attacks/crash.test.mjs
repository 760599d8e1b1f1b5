// Crash and restart under load (issue #8). The real binary carries 20 provider/patient pairs
// on the real npm socket.io-client, each pair in a call it signals in a tight loop (offer,
// answer, ICE candidates, media changes, quality reports, and for some pairs the patient
// leaving and rejoining), while REST workers create, answer, end and cancel calls. In the
// middle of it the server is killed with SIGKILL (no shutdown work at all) and started again
// on the same port, database, DATA_DIR and JWT secret. Then:
// - every write the server acknowledged (a 2xx response, a Socket.IO ack with `ok: true`)
//   is there in the acknowledged state: call status and end reason, transitions, the
//   audit entry of each change, participant rows (joins, leaves with their reason, media
//   state) and the stored quality samples. A write whose reply was cut off by the kill may
//   have happened or not, and nothing beyond it may appear;
// - `vytalcall audit verify` exits 0, right after the restart and again at the end;
// - every socket reconnects by itself, resumes its call with `reconnect-call` (with
//   `join-call` as the documented fallback when the answer is `not-in-call`), and relayed
//   signaling flows again between the pair; the calls then end normally over REST.
//
// Databases: the scenario runs twice. Once on SQLite in the data directory with DATABASE_URL
// unset (the embedded default of a single-process clinic: the killed process itself was
// writing that file and its WAL, so this is where a kill can tear something), and once on a
// fresh PostgreSQL database of its own (`vytalcall_crash_<random>` on 127.0.0.1:5432, user
// postgres, or E2E_PG_HOST / E2E_PG_USER), dropped afterwards, as the multi-node suites use.
// Either way the database and the data directory outlive the killed process (./process.mjs).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { user, api, ask, fakeSdp, sleep, freePort } from '../signaling/helpers.mjs';
import { storage, serverEnv, startProcess, runCommand } from './process.mjs';

const PAIRS = 20;
const REST_WORKERS = 8;
const CHURN_EVERY = 4; // pairs i % 4 === 3: the patient leaves and rejoins now and then
const ACK_MS = 5000; // generous: a slow ack before the kill fails the test

for (const kind of ['sqlite', 'postgres']) {
  test(`SIGKILL under signaling and REST load (${kind}): acknowledged writes kept, audit chain verifies, clients resume`, { timeout: 120000 }, async (t) => {
    const store = storage(kind);
    try {
      await scenario(t, store);
    } finally {
      store.dispose();
    }
  });
}

// A restarted single server starts from its database: whoever was in a live call when it
// stopped is disconnected since the restart, with the reconnection grace period of a dropped
// connection (docs/signaling.md, "Reconnection"): `reconnect-call` resumes, the interrupted
// participant records are closed as `disconnected`, and a call nobody returns to ends
// `failed` ("all participants disconnected") once the grace is over.
const GRACE = 3;
let interrupted;
/** One kill and restart shared by the two tests below: call A's pair comes back, call B's does not. */
function interruptedCalls() {
  interrupted ??= (async () => {
    const store = storage('sqlite');
    const port = await freePort();
    const env = serverEnv(store, port, { RECONNECT_GRACE_SECONDS: String(GRACE) });
    const first = await startProcess(env);
    const rest = (who, method, path, body) => restCall(first.url, who, method, path, body);
    const calls = {};
    for (const name of ['a', 'b']) {
      const provider = user('provider');
      const patient = user('patient');
      const prov = client(first.url, provider, `${name}-prov`, ['websocket']);
      const pat = client(first.url, patient, `${name}-pat`, ['websocket']);
      await Promise.all([prov.ready, pat.ready]);
      const created = await rest(provider, 'POST', '/calls', { patientId: patient.id });
      const callId = created.body.id;
      assert.equal((await ack(prov.socket, 'join-call', { callId })).ok, true);
      assert.equal((await ack(pat.socket, 'join-call', { callId })).status, 'active');
      calls[name] = { callId, provider, patient, prov, pat };
    }
    await first.kill();
    const killedAt = Date.now();
    calls.b.prov.socket.close(); // call B's people do not come back
    calls.b.pat.socket.close();
    const server = await startProcess(env);
    const state = { server, store, calls, killedAt, get: (path) => restCall(server.url, user('admin'), 'GET', path) };
    await waitUntil(() => calls.a.prov.connects >= 2 && calls.a.pat.connects >= 2, 10000, () => 'call A did not reconnect');
    return state;
  })();
  return interrupted;
}
after(async () => {
  if (!interrupted) return;
  const { server, store, calls } = await interrupted.catch(() => ({}));
  if (!server) return;
  for (const c of Object.values(calls)) for (const s of [c.prov.socket, c.pat.socket]) s.close();
  await server.stop();
  store.dispose();
});

test('after a restart, the participants of a live call resume it with reconnect-call', async () => {
  const { calls, get, killedAt } = await interruptedCalls();
  const { callId, provider, patient, prov, pat } = calls.a;
  // The patient is back first (nobody in the call's room yet to tell), then the provider,
  // whom the patient sees come back as a reconnection.
  const first = await ack(pat.socket, 'reconnect-call', { callId });
  assert.equal(first.ok, true, JSON.stringify(first));
  assert.equal(first.resumed, true, JSON.stringify(first));
  const rejoined = nextEvent(pat.socket, 'participant-joined', (d) => d.userId === provider.id);
  const resumed = await ack(prov.socket, 'reconnect-call', { callId });
  assert.equal(resumed.ok, true, JSON.stringify(resumed));
  assert.equal(resumed.resumed, true, JSON.stringify(resumed));
  assert.equal(resumed.status, 'active', JSON.stringify(resumed));
  assert.equal((await rejoined).reconnected, true);
  // The records the crash interrupted are closed as a dropped connection's are.
  const { body } = await get(`/calls/${callId}`);
  const old = body.participants.filter((p) => Date.parse(p.joinedAt) <= killedAt);
  assert.equal(old.length, 2);
  for (const p of old) assert.equal(p.leaveReason, 'disconnected', JSON.stringify(p));
});

test('after a restart, a call nobody returns to ends as failed once the grace period is over', async () => {
  const { calls, get, killedAt } = await interruptedCalls();
  await sleep(Math.max(0, killedAt + (GRACE + 3) * 1000 - Date.now()));
  const { body } = await get(`/calls/${calls.b.callId}`);
  assert.equal(body.status, 'failed', JSON.stringify({ status: body.status, endReason: body.endReason }));
  assert.equal(body.endReason, 'all participants disconnected');
  for (const p of body.participants) assert.ok(p.leftAt && Date.parse(p.leftAt) < killedAt + (GRACE + 3) * 1000, JSON.stringify(p));
});

async function scenario(t, store) {
  const port = await freePort();
  const env = serverEnv(store, port, {
    RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '0',
    RATE_LIMIT_PER_USER_PER_MINUTE: '0',
    SIGNALING_EVENTS_PER_SECOND: '5000',
    SIGNALING_EVENT_BURST: '10000',
    QUALITY_SAMPLE_SECONDS: '0', // every report is stored: one more kind of write under load
    RING_TIMEOUT_SECONDS: '600',
    RECONNECT_GRACE_SECONDS: '60',
  });
  const started = Date.now();
  let server = await startProcess(env);
  const sockets = [];
  const admin = user('admin');
  const rest = (who, method, path, body) => restCall(server.url, who, method, path, body);
  try {
    // ---- arrange: pairs connected, each in an active call -------------------------------
    const log = writeLog();
    const pairs = await Promise.all(
      Array.from({ length: PAIRS }, async (_, i) => {
        const provider = user('provider');
        const patient = user('patient');
        // Half the pairs on WebSocket only, half starting on long-polling (then upgrading).
        const transports = i % 2 ? ['websocket'] : ['polling', 'websocket'];
        const prov = client(server.url, provider, `prov-${i}`, transports);
        const pat = client(server.url, patient, `pat-${i}`, transports);
        sockets.push(prov.socket, pat.socket);
        await Promise.all([prov.ready, pat.ready]);
        const created = await rest(provider, 'POST', '/calls', { patientId: patient.id, type: 'video' });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const callId = created.body.id;
        log.call(callId, { signaling: true }).acked('ringing');
        const pj = await ack(prov.socket, 'join-call', { callId });
        assert.equal(pj.ok, true, JSON.stringify(pj));
        const aj = await ack(pat.socket, 'join-call', { callId });
        assert.equal(aj.status, 'active', JSON.stringify(aj));
        log.call(callId).acked('active');
        const pair = { i, callId, provider, patient, prov, pat, roundTrips: 0, churn: i % CHURN_EVERY === CHURN_EVERY - 1 };
        pair.provDev = log.device(callId, provider.id, `prov-${i}`);
        pair.patDev = log.device(callId, patient.id, `pat-${i}`);
        pair.provDev.joins.acked++;
        pair.patDev.joins.acked++;
        return pair;
      }),
    );

    // ---- act: load, then SIGKILL in the middle of it -----------------------------------
    const load = { stopped: false, failures: [] };
    const loops = [
      ...pairs.map((p) => signalingLoop(p, load, log)),
      ...Array.from({ length: REST_WORKERS }, (_, w) => restWorker(w, rest, load, log)),
    ];
    // The kill comes 3 to 5 s into the load (a different moment each run), once every pair
    // has signaled for a while and the REST workers have written.
    const loadFrom = Date.now();
    const killAfter = 3000 + Math.floor(Math.random() * 2000);
    while (Date.now() - loadFrom < 20000) {
      const enough = Date.now() - loadFrom >= killAfter && log.restAcked() >= 60 && pairs.every((p) => p.roundTrips >= 5);
      if (enough || load.failures.length) break;
      await sleep(20);
    }
    assert.deepEqual(load.failures, [], `no event or request may fail before the kill: ${load.failures.slice(0, 10).join('; ')}`);
    const reaped = server.kill();
    load.stopped = true; // same tick as the signal: nothing is sent to a half-dead server
    const killedAt = Date.now();
    const { signal } = await reaped;
    assert.equal(signal, 'SIGKILL');
    await Promise.all(loops);
    const drainedMs = Date.now() - killedAt;
    const cutOff = log.calls().filter((c) => c.inFlight).length +
      log.devices().filter((d) => d.media.pending || d.joins.pending).length;
    const before = {
      rest: log.restAcked(),
      roundTrips: pairs.reduce((n, p) => n + p.roundTrips, 0),
      quality: log.quality.length,
      churn: log.devices().reduce((n, d) => n + d.leaves.length, 0),
      media: log.devices().filter((d) => d.media.acked).length,
    };
    t.diagnostic(`${store.kind}: load ${killedAt - loadFrom} ms before SIGKILL: ${before.rest} REST writes acknowledged, ` +
      `${before.roundTrips} signaling rounds, ${before.quality} stored quality reports, ${before.churn} leave/rejoin, ` +
      `${before.media} devices with an acknowledged media change; ${cutOff} tracked writes cut off by the kill (reply never came); ` +
      `load stopped ${drainedMs} ms after the kill`);
    assert.ok(before.rest >= 20 && before.roundTrips >= PAIRS * 5, `the load ran before the kill: ${JSON.stringify(before)}`);

    // ---- restart on the same port, database, data directory and secret ------------------
    const restartFrom = Date.now();
    server = await startProcess(env);
    const restartMs = Date.now() - restartFrom;
    const verifiedAtRestart = verifyAudit(env);

    // ---- clients recover by themselves and resume their calls --------------------------
    const clients = pairs.flatMap((p) => [p.prov, p.pat]);
    await waitUntil(() => clients.every((c) => c.connects >= 2), 20000, () =>
      `sockets not reconnected: ${clients.filter((c) => c.connects < 2).map((c) => c.deviceId).join(', ')}`);
    const reconnectedMs = Date.now() - killedAt;
    const via = { 'reconnect-call': 0, 'join-call': 0 };
    await Promise.all(
      pairs.map(async (p) => {
        for (const c of [p.prov, p.pat]) {
          let reply = await ack(c.socket, 'reconnect-call', { callId: p.callId });
          if (reply.error?.code === 'not-in-call') {
            // docs/signaling.md: "`not-in-call`: reconnect-call with no participation to resume: use join-call"
            reply = await ack(c.socket, 'join-call', { callId: p.callId });
            via['join-call']++;
          } else via['reconnect-call']++;
          assert.equal(reply.ok, true, `${c.deviceId} resumes call ${p.callId}: ${JSON.stringify(reply)}`);
          assert.equal(reply.status, 'active', `${c.deviceId}: ${JSON.stringify(reply)}`);
        }
        // Relayed signaling flows again, both ways, with the server's fromUserId.
        const offered = nextEvent(p.pat.socket, 'offer', (d) => d.offer.sdp === fakeSdp(`after-${p.i}`));
        const sent = await ack(p.prov.socket, 'offer', { callId: p.callId, offer: { type: 'offer', sdp: fakeSdp(`after-${p.i}`) }, targetUserId: p.patient.id });
        assert.equal(sent.ok, true, JSON.stringify(sent));
        assert.equal((await offered).fromUserId, p.provider.id);
        const answered = nextEvent(p.prov.socket, 'answer', (d) => d.answer.sdp === fakeSdp(`answer-after-${p.i}`));
        const back = await ack(p.pat.socket, 'answer', { callId: p.callId, answer: { type: 'answer', sdp: fakeSdp(`answer-after-${p.i}`) }, targetUserId: p.provider.id });
        assert.equal(back.ok, true, JSON.stringify(back));
        assert.equal((await answered).fromUserId, p.patient.id);
      }),
    );
    t.diagnostic(`${store.kind}: restart ready in ${restartMs} ms; every socket reconnected ${reconnectedMs} ms after the kill; ` +
      `resumed via reconnect-call ${via['reconnect-call']}, via join-call after not-in-call ${via['join-call']}`);

    // ---- every acknowledged write is there --------------------------------------------
    const problems = await checkWrites(log, (path) => rest(admin, 'GET', path), store, killedAt);
    assert.deepEqual(problems, [], `acknowledged writes lost or changed after the restart (${problems.length}): ${problems.slice(0, 10).join('; ')}`);

    // ---- the calls go on and end normally ------------------------------------------------
    await Promise.all(
      pairs.map(async (p) => {
        const endedProv = nextEvent(p.prov.socket, 'call-ended', (d) => d.callId === p.callId);
        const endedPat = nextEvent(p.pat.socket, 'call-ended', (d) => d.callId === p.callId);
        const r = await rest(p.provider, 'POST', `/calls/${p.callId}/end`, { reason: 'after the crash' });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.status, 'ended');
        await Promise.all([endedProv, endedPat]);
      }),
    );

    // ---- the audit chain verifies, as the crash left it and as it went on -------------------
    const atRestart = await verifiedAtRestart;
    assert.equal(atRestart.status, 0, `audit verify right after the restart: ${atRestart.stdout}${atRestart.stderr}`);
    const atEnd = await verifyAudit(env);
    assert.equal(atEnd.status, 0, `audit verify at the end: ${atEnd.stdout}${atEnd.stderr}`);
    const entries = Number(/^OK: (\d+) audit entries verified/m.exec(atEnd.stdout)?.[1]);
    assert.ok(entries >= log.auditedWrites(), `${entries} entries verified, at least ${log.auditedWrites()} acknowledged audited writes`);
    t.diagnostic(`${store.kind}: audit verify: "${atRestart.stdout.trim()}" after the restart, "${atEnd.stdout.trim()}" at the end; ` +
      `whole scenario ${Date.now() - started} ms`);
  } catch (e) {
    e.message += `\n--- server log (tail) ---\n${server.logs().slice(-3000)}`;
    throw e;
  } finally {
    for (const s of sockets) s.close();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------
// Load

const candidate = (n) => ({ candidate: `candidate:${n} 1 udp 2122260223 192.0.2.${n % 250} ${50000 + (n % 1000)} typ host`, sdpMid: '0', sdpMLineIndex: 0 });
const mediaState = (n) => ({ videoEnabled: n % 2 === 0, audioEnabled: n % 3 !== 0, screenShareEnabled: n % 5 === 0 });

/** One pair's tight signaling loop; every acknowledged write goes to `log`. */
async function signalingLoop(p, load, log) {
  const { callId } = p;
  // Emits with an ack; null once the load is stopped (nothing more is sent then). A refusal
  // before the kill is a failure of the test.
  const send = async (c, event, data) => {
    if (load.stopped) return null;
    let reply;
    try {
      reply = await ack(c.socket, event, data);
    } catch (e) {
      if (!load.stopped) load.failures.push(`${c.deviceId} ${event}: ${e.message}`);
      return null;
    }
    if (!reply.ok && !load.stopped) load.failures.push(`${c.deviceId} ${event}: ${JSON.stringify(reply)}`);
    return reply.ok ? reply : null;
  };
  for (let n = 1; !load.stopped; n++) {
    if (!(await send(p.prov, 'offer', { callId, offer: { type: 'offer', sdp: fakeSdp(`o${n}`) }, targetUserId: p.patient.id }))) break;
    if (!(await send(p.pat, 'answer', { callId, answer: { type: 'answer', sdp: fakeSdp(`a${n}`) }, targetUserId: p.provider.id }))) break;
    if (!(await send(p.prov, 'ice-candidate', { callId, candidate: candidate(n) }))) break;
    if (!(await send(p.pat, 'ice-candidate', { callId, candidate: candidate(n + 1), targetUserId: p.provider.id }))) break;
    // The provider's media state: at most one change in flight, so the stored state is the
    // last acknowledged one or the one whose ack the kill cut off.
    const m = mediaState(n);
    p.provDev.media.pending = m;
    const media = await send(p.prov, 'update-media', { callId, ...m });
    if (!media) break;
    p.provDev.media = { acked: m, pending: null };
    // Quality: a bandwidth figure unique to this report, to find its stored sample.
    const q = n % 2 ? p.prov : p.pat;
    const bandwidth = 1000 + p.i * 10000 + n;
    const quality = await send(q, 'connection-quality', { callId, metrics: { bandwidth, latency: 40, packetLoss: 0.5, jitter: 10, videoResolution: '1280x720' } });
    if (!quality) break;
    if (quality.stored) log.quality.push({ callId, userId: q === p.prov ? p.provider.id : p.patient.id, bandwidth });
    if (p.churn && n % 3 === 0) {
      const reason = `churn ${p.i}-${n}`;
      p.patDev.leaves.pending = reason;
      if (!(await send(p.pat, 'leave-call', { callId, reason }))) break;
      p.patDev.leaves.push(reason);
      p.patDev.joins.pending = true;
      const rejoined = await send(p.pat, 'join-call', { callId, videoEnabled: true, audioEnabled: true });
      if (!rejoined) break;
      p.patDev.joins.acked++;
      p.patDev.joins.pending = false;
    }
    p.roundTrips++;
  }
}

/** A REST worker: create, then answer+end, cancel, answer only, or leave it ringing. */
async function restWorker(w, rest, load, log) {
  const provider = user('provider');
  const patient = user('patient');
  // One request; the reply when it is a 2xx, else null (a failure unless the server was killed).
  const send = async (who, method, path, body, expected) => {
    let r;
    try {
      r = await rest(who, method, path, body);
    } catch (e) {
      if (!load.stopped) load.failures.push(`${method} ${path}: ${e.message}`);
      return null;
    }
    if (r.status !== expected) {
      if (!load.stopped) load.failures.push(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return null;
    }
    return r;
  };
  for (let k = 0; !load.stopped; k++) {
    const created = await send(provider, 'POST', '/calls', { patientId: patient.id, type: k % 2 ? 'audio' : 'video' }, 201);
    if (!created) break;
    const call = log.call(created.body.id);
    call.acked('ringing');
    const step = async (who, action, to, reason) => {
      if (load.stopped) return false;
      call.pending(to, reason);
      const body = reason === undefined ? undefined : { reason };
      const r = await send(who, 'POST', `/calls/${created.body.id}/${action}`, body, 200);
      if (!r) return false;
      if (r.body.status !== to) load.failures.push(`${action} answered status ${r.body.status}`);
      call.acked(to, reason);
      return true;
    };
    const plan = (w + k) % 4;
    if (plan === 0) {
      if (!(await step(patient, 'answer', 'active'))) break;
      if (!(await step(provider, 'end', 'ended', `done ${w}-${k}`))) break;
    } else if (plan === 1) {
      if (!(await step(provider, 'cancel', 'cancelled', `called off ${w}-${k}`))) break;
    } else if (plan === 2) {
      if (!(await step(patient, 'answer', 'active'))) break;
    }
  }
}

// ---------------------------------------------------------------------------------------
// What was acknowledged, and the check after the restart

const ORDER = ['ringing', 'active', 'ended', 'cancelled'];
const AUDIT_ACTION = { ringing: 'call.create', active: 'call.answer', ended: 'call.end', cancelled: 'call.cancel' };

function writeLog() {
  const calls = new Map();
  const devices = new Map();
  return {
    quality: [],
    call(id, { signaling = false } = {}) {
      if (!calls.has(id)) {
        const c = { id, signaling, state: null, reason: null, inFlight: null, history: [] };
        c.acked = (state, reason = null) => {
          c.state = state;
          c.reason = reason;
          c.inFlight = null;
          c.history.push(state);
        };
        c.pending = (state, reason = null) => {
          c.inFlight = { state, reason };
        };
        calls.set(id, c);
      }
      return calls.get(id);
    },
    calls: () => [...calls.values()],
    device(callId, userId, deviceId) {
      const d = { callId, userId, deviceId, joins: { acked: 0, pending: false }, leaves: [], media: { acked: null, pending: null } };
      devices.set(deviceId, d);
      return d;
    },
    devices: () => [...devices.values()],
    /** Acknowledged REST writes of the workers (creates, answers, ends, cancels). */
    restAcked: () => [...calls.values()].filter((c) => !c.signaling).reduce((n, c) => n + c.history.length, 0),
    /** Writes that each made exactly one success entry in the audit trail. */
    auditedWrites() {
      let n = 0;
      for (const c of calls.values()) n += c.history.length;
      for (const d of devices.values()) n += d.joins.acked + d.leaves.length;
      return n;
    },
  };
}

/** Every acknowledged write, checked against what the restarted server (and its database) holds. */
async function checkWrites(log, get, store, killedAt) {
  const problems = [];
  const details = new Map();
  const audits = new Map();
  await inBatches(log.calls(), 8, async (c) => {
    const r = await get(`/calls/${c.id}`);
    if (r.status !== 200) return problems.push(`call ${c.id} (acknowledged ${c.state}): GET ${r.status}`);
    details.set(c.id, r.body);
    const a = await get(`/audit?callId=${c.id}&limit=500`);
    if (a.status !== 200) return problems.push(`audit of ${c.id}: ${a.status}`);
    audits.set(c.id, a.body.entries.filter((e) => e.outcome === 'success'));
  });
  for (const c of log.calls()) {
    const call = details.get(c.id);
    if (!call) continue;
    // The acknowledged state, or the state of the one request the kill cut off.
    const allowed = [c.state, ...(c.inFlight ? [c.inFlight.state] : [])];
    if (!allowed.includes(call.status)) {
      problems.push(`call ${c.id}: status ${call.status}, acknowledged ${c.state}${c.inFlight ? ` (in flight: ${c.inFlight.state})` : ''}`);
      continue;
    }
    const reason = call.status === c.state ? c.reason : c.inFlight.reason;
    if ((call.status === 'ended' || call.status === 'cancelled') && call.endReason !== reason) {
      problems.push(`call ${c.id}: end reason ${JSON.stringify(call.endReason)}, acknowledged ${JSON.stringify(reason)}`);
    }
    const transitions = call.transitions.map((x) => x.to);
    const entries = audits.get(c.id) ?? [];
    for (const state of c.history) {
      if (!transitions.includes(state)) problems.push(`call ${c.id}: acknowledged transition to ${state} missing from ${JSON.stringify(transitions)}`);
      const action = AUDIT_ACTION[state];
      // Pair calls become active by a second join: the audit entry is call.answer either way.
      if (!entries.some((e) => e.action === action)) problems.push(`call ${c.id}: no ${action} audit entry for the acknowledged ${state}`);
    }
    // Nothing beyond what was sent: no state past the last request.
    const furthest = Math.max(ORDER.indexOf(c.state), c.inFlight ? ORDER.indexOf(c.inFlight.state) : -1);
    if (ORDER.indexOf(call.status) > furthest) problems.push(`call ${c.id}: status ${call.status} was never requested`);
  }
  for (const d of log.devices()) {
    const call = details.get(d.callId);
    if (!call) continue;
    const rows = call.participants.filter((p) => p.deviceId === d.deviceId && Date.parse(p.joinedAt) <= killedAt);
    const maxRows = d.joins.acked + (d.joins.pending ? 1 : 0);
    if (rows.length < d.joins.acked || rows.length > maxRows) {
      problems.push(`${d.deviceId}: ${rows.length} participant rows from before the kill, ${d.joins.acked} joins acknowledged (+${maxRows - d.joins.acked} in flight)`);
    }
    for (const reason of d.leaves) {
      if (!rows.some((p) => p.leaveReason === reason && p.leftAt)) problems.push(`${d.deviceId}: acknowledged leave "${reason}" lost`);
    }
    const entries = audits.get(d.callId) ?? [];
    const joins = entries.filter((e) => e.action === 'call.join' && e.deviceId === d.deviceId && Date.parse(e.occurredAt) <= killedAt).length;
    const leaves = entries.filter((e) => e.action === 'call.leave' && e.deviceId === d.deviceId && Date.parse(e.occurredAt) <= killedAt).length;
    if (joins < d.joins.acked) problems.push(`${d.deviceId}: ${joins} call.join audit entries, ${d.joins.acked} joins acknowledged`);
    if (leaves < d.leaves.length) problems.push(`${d.deviceId}: ${leaves} call.leave audit entries, ${d.leaves.length} leaves acknowledged`);
    if (d.media.acked) {
      const row = rows.at(-1);
      const state = row && { videoEnabled: row.videoEnabled, audioEnabled: row.audioEnabled, screenShareEnabled: row.screenShareEnabled };
      const allowed = [d.media.acked, ...(d.media.pending ? [d.media.pending] : [])];
      if (!allowed.some((m) => JSON.stringify(m) === JSON.stringify(state))) {
        problems.push(`${d.deviceId}: media ${JSON.stringify(state)}, acknowledged ${JSON.stringify(d.media.acked)}`);
      }
    }
  }
  // Stored quality samples are not shown by any endpoint: read them from the database.
  const stored = new Set(
    store
      .sql('SELECT call_id, user_id, bandwidth_kbps FROM call_quality_samples')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.trim()),
  );
  for (const q of log.quality) {
    if (!stored.has(`${q.callId}|${q.userId}|${q.bandwidth}`)) problems.push(`quality sample ${q.bandwidth} of ${q.callId} acknowledged as stored, not in the database`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Plumbing

/** A socket.io-client socket that reconnects by itself (quickly, for the test's sake). */
function client(url, who, deviceId, transports) {
  const socket = io(`${url}/webrtc`, {
    auth: { token: who.token, deviceId },
    forceNew: true,
    transports,
    reconnection: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    timeout: 5000,
  });
  const c = { socket, deviceId, connects: 0 };
  c.ready = new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  socket.on('connect', () => c.connects++);
  return c;
}

const ack = (socket, event, data) => ask(socket, event, data, ACK_MS);

function nextEvent(socket, event, pred, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`timed out waiting for ${event}`));
    }, ms);
    const on = (data) => {
      if (!pred(data)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(data);
    };
    socket.on(event, on);
  });
}

/** REST against the server at `url` (which changes across the restart). */
const restCall = (url, who, method, path, body) => api({ url }, who, method, path, body);

const verifyAudit = (env) => runCommand(env, ['audit', 'verify']);

async function waitUntil(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(what());
    await sleep(50);
  }
}

async function inBatches(items, width, f) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await f(items[next++]);
    }),
  );
}
