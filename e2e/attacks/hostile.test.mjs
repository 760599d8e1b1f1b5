// One patient token against the service for a minute (HOSTILE_SECONDS, default 60), with the
// real socket.io-client: 200 sockets attempted at once (at most the per-user cap connect),
// each connected one sending offers for random call ids at its event limit plus event names
// never seen before, while another patient and their provider hold a signaling session.
// Afterwards: their relays kept flowing, the audit trail grew by a bounded amount, the
// /metrics series count stayed flat, resident memory came back and `audit verify` is OK.
// The figures are printed (SECURITY.md records a quiet machine's); the assertions leave the
// margins a loaded 2-core machine needs, since the point is that nothing stalls or grows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { user, connect, createCall, recorder, ask, closeAll, fakeSdp, sleep } from '../signaling/helpers.mjs';
import { BINARY } from '../lib/server.mjs';
import { startServer } from './server.mjs';

const SECONDS = Number(process.env.HOSTILE_SECONDS ?? 60);
const ATTEMPTS = 200;
const CAP = 10; // SIGNALING_MAX_SOCKETS_PER_USER's default
const RSS_TOLERANCE_KIB = 24 * 1024;

let server;
let held; // the well-behaved pair
before(async () => {
  server = await startServer({});
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const callId = await createCall(server, provider, patient);
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId })).ok, true);
  held = { provider, patient, prov, pat, callId, heard: recorder(pat), rounds: 0 };
});
after(async () => {
  closeAll();
  await server.stop();
});

const admin = user('admin');
async function auditTotal() {
  const r = await fetch(`${server.url}/webrtc/audit?limit=1`, { headers: { authorization: `Bearer ${admin.token}` } });
  assert.equal(r.status, 200);
  return (await r.json()).total;
}
async function seriesNames() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/\s+\S+$/, '')));
}
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** One offer from the provider to the patient; milliseconds until the patient has it. */
async function relay() {
  const { prov, pat, callId, patient, heard } = held;
  const sdp = fakeSdp(`held-${held.rounds++}`);
  const sent = performance.now();
  const got = heard.next('offer', (d) => d.offer.sdp === sdp, 10000);
  prov.emit('offer', { callId, offer: { type: 'offer', sdp }, targetUserId: patient.id });
  await got;
  heard.seen.length = 0; // keep the recorder small over a minute of probes
  return performance.now() - sent;
}

test(`one patient token for ${SECONDS} s: ${ATTEMPTS} sockets attempted, offers for random calls and unique event names at the limit`, { timeout: (SECONDS + 120) * 1000 }, async (t) => {
  // Warm up every path the attack takes, so the series it creates exist before counting.
  const warm = await connect(server, user('patient'));
  await ask(warm, 'offer', { callId: randomUUID(), offer: { type: 'offer', sdp: fakeSdp('w') }, targetUserId: randomUUID() });
  warm.emit('warm-up-unknown-name', {});
  for (let i = 0; i < 20; i++) await relay();
  await sleep(500);
  warm.close();
  await fetch(`${server.url}/metrics`);
  await auditTotal(); // the audit route's own series exist from its first read on
  const seriesBefore = await seriesNames();
  const auditBefore = await auditTotal();
  const rssBefore = server.rssKiB();

  const attacker = user('patient');
  const attempts = await Promise.allSettled(Array.from({ length: ATTEMPTS }, () => connect(server, attacker)));
  const sockets = attempts.filter((a) => a.status === 'fulfilled').map((a) => a.value);
  const refusals = attempts.filter((a) => a.status === 'rejected').map((a) => a.reason.message.split(':')[0]);
  assert.ok(sockets.length >= 1 && sockets.length <= CAP, `${sockets.length} of ${ATTEMPTS} connected (cap ${CAP})`);
  assert.ok(refusals.every((r) => r === 'too-many-connections' || r === 'rate-limited'), `refusals say why: ${[...new Set(refusals)]}`);

  let sent = 0;
  let name = 0;
  const flood = setInterval(() => {
    for (const s of sockets) {
      s.emit('offer', { callId: randomUUID(), offer: { type: 'offer', sdp: fakeSdp('x') }, targetUserId: randomUUID() });
      s.emit(`evil-${name++}-${randomUUID()}`, { callId: randomUUID() });
      sent += 2;
    }
  }, 1000 / 30);
  const latencies = [];
  const until = Date.now() + SECONDS * 1000;
  // The refusals' closed-set series (rate-limited, refused handshakes) appear in the first
  // seconds; from then on, thousands of new event names must add none.
  let seriesEarly = null;
  const early = Date.now() + Math.min(5, SECONDS / 3) * 1000;
  try {
    while (Date.now() < until) {
      latencies.push(await relay());
      if (!seriesEarly && Date.now() > early) seriesEarly = await seriesNames();
      await sleep(50);
    }
  } finally {
    clearInterval(flood);
  }
  const seriesLate = await seriesNames();
  for (const s of sockets) s.close();

  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  // Released sockets, summaries written, memory given back: wait for the state, not a time.
  let rssAfter = server.rssKiB();
  for (const deadline = Date.now() + 60000; rssAfter > rssBefore + RSS_TOLERANCE_KIB && Date.now() < deadline; ) {
    await sleep(500);
    rssAfter = server.rssKiB();
  }
  await sleep(1000);
  const auditAfter = await auditTotal();
  const seriesAfter = await seriesNames();
  const added = [...seriesAfter].filter((n) => !seriesBefore.has(n));
  const verify = spawnSync(BINARY, ['audit', 'verify'], { env: server.env, encoding: 'utf8' });

  t.diagnostic(
    `attempted ${ATTEMPTS}, connected ${sockets.length}; ${sent} hostile events; held relays ${latencies.length}, ` +
      `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; audit +${auditAfter - auditBefore} entries; ` +
      `/metrics ${seriesBefore.size} → ${seriesEarly?.size} after ${Math.min(5, SECONDS / 3)} s → ${seriesLate.size} at the end of the flood → ${seriesAfter.size} series; RSS ${(rssBefore / 1024).toFixed(1)} → ${(rssAfter / 1024).toFixed(1)} MiB; ` +
      `audit verify: ${verify.stdout.trim().split('\n')[0]}`,
  );
  assert.ok(latencies.length >= SECONDS, `the held session kept relaying (${latencies.length} relays)`);
  assert.ok(p99 < 1000, `held relays never stall: p99 ${p99.toFixed(1)} ms`);
  assert.ok(auditAfter - auditBefore <= 400, `the trail grew by ${auditAfter - auditBefore} entries`);
  assert.deepEqual(added.filter((n) => n.includes('evil')), [], 'no series names attacker text');
  // Tens of thousands of unique event names add only series from closed sets (the refusal
  // codes of known events and `unknown`, refused handshakes by reason): a handful at most.
  assert.ok(seriesEarly, 'series counted during the flood');
  assert.ok(seriesAfter.size <= seriesBefore.size + 12, `series ${seriesBefore.size} → ${seriesAfter.size}`);
  assert.ok(added.every((n) => /code="rate-limited"|handshakes_refused|rate_limited_total|errors_total\{event="(offer|unknown)"/.test(n)), `only closed-set series were added: ${added}`);
  assert.ok(rssAfter <= rssBefore + RSS_TOLERANCE_KIB, `RSS ${rssBefore} → ${rssAfter} KiB`);
  assert.equal(verify.status, 0, `audit verify: ${verify.stdout}${verify.stderr}`);
  assert.match(verify.stdout, /^OK/);
  assert.ok(server.alive());
});
