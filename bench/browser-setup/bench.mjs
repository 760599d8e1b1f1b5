// Call set-up time in the browser: from the provider's REST `POST /webrtc/calls` to both sides
// showing the other's video (videoWidth > 0), with the vytalcall client SDK in two browser
// contexts (provider and patient) of Debian's chromium. The patient page accepts the moment
// `incoming-call` arrives (a user who clicks instantly). Prints median and p95 over N runs.
//
//   node bench.mjs [runs=20] [--json results/file.json]
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { startServer, launchBrowser, openClientPage, serverServesBundle, sleep, CHROMIUM } from '../../e2e/sdk/harness.mjs';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? process.env.RUNS ?? 20);
const jsonAt = args.indexOf('--json');
const jsonPath = jsonAt >= 0 ? args[jsonAt + 1] : null;
if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a positive integer, got ${runs}`);

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const summary = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, min: s[0], median: pct(s, 50), p95: pct(s, 95), max: s[s.length - 1] };
};
const fmt = (x) => `${x.toFixed(0).padStart(5)} ms`;

const loadBefore = os.loadavg()[0];
const server = await startServer();
const browser = await launchBrowser();
// BENCH_LOCAL_BUNDLE=1: the working tree's bundle (to measure an SDK change before the binary embeds it).
const serveBundle = process.env.BENCH_LOCAL_BUNDLE === '1' ? false : await serverServesBundle(server);
const provider = server.user('provider');
const patient = server.user('patient');
// BENCH_OFFER_WAIT_MS=0: the provider offers the moment the patient joins, so offers cross
// (perfect negotiation settles it); to measure what crossing offers cost.
const providerOptions = process.env.BENCH_OFFER_WAIT_MS ? { offerWaitMs: Number(process.env.BENCH_OFFER_WAIT_MS) } : {};
const P = await openClientPage(browser, server, provider, { serveBundle, clientOptions: providerOptions });
const Q = await openClientPage(browser, server, patient, { serveBundle });

// The patient accepts every incoming call at once.
await Q.page.evaluate(() => {
  vc.on('incoming-call', (e) => {
    h.mark('accept');
    vc.join(e.callId, { callType: e.callType }).then(() => h.mark('joined'));
  });
});

const rows = [];
try {
  // One warm-up call (first getUserMedia, codec initialisation), not counted.
  for (let i = -1; i < runs; i++) {
    await Promise.all([P.page.evaluate(() => h.reset()), Q.page.evaluate(() => h.reset())]);
    const patientSees = Q.page.evaluate(() => h.when('remote-stream').then(() => h.remoteVideoReady()));
    const r = await P.page.evaluate(async (patientId) => {
      const t0 = h.now();
      const call = await vc.createCall({ patientId, type: 'video' });
      const created = h.now();
      await vc.join(call.id, { callType: call.type });
      const joined = h.now();
      await h.when('remote-stream');
      const seen = await h.remoteVideoReady();
      const connected = h.log.find((e) => e.name === 'pc-connected')?.at ?? NaN;
      return { callId: call.id, t0, created, joined, connected, seen };
    }, patient.id);
    const qSeen = await patientSees;
    const qLog = await Q.page.evaluate(() => h.log.map(({ name, at }) => ({ name, at })));
    const at = (name) => qLog.find((e) => e.name === name)?.at;
    const row = {
      total: Math.max(r.seen, qSeen) - r.t0,
      create: r.created - r.t0,
      ring: at('incoming-call') - r.t0,
      providerJoined: r.joined - r.t0,
      patientJoined: at('joined') - r.t0,
      providerConnected: r.connected - r.t0,
      patientConnected: at('pc-connected') - r.t0,
      providerVideo: r.seen - r.t0,
      patientVideo: qSeen - r.t0,
    };
    // End the call and wait until both sides have torn down before the next run.
    const ended = Q.page.evaluate(() => h.when('call-ended'));
    await P.page.evaluate(() => vc.endCall());
    await Promise.all([ended, P.page.evaluate(() => h.when('call-ended'))]);
    await sleep(200);
    if (i >= 0) {
      rows.push(row);
      process.stdout.write(`run ${String(i + 1).padStart(3)}: ${fmt(row.total)}\n`);
    }
  }
} finally {
  await browser.close();
  await server.stop();
}

const keys = ['total', 'create', 'ring', 'providerJoined', 'patientJoined', 'providerConnected', 'patientConnected', 'providerVideo', 'patientVideo'];
const stats = Object.fromEntries(keys.map((k) => [k, summary(rows.map((r) => r[k]))]));
const label = {
  total: 'create call → both see remote video',
  create: 'POST /webrtc/calls answered',
  ring: 'patient receives incoming-call',
  providerJoined: 'provider join-call done (incl. getUserMedia)',
  patientJoined: 'patient join-call done (incl. getUserMedia)',
  providerConnected: 'provider connection connected (ICE+DTLS)',
  patientConnected: 'patient connection connected (ICE+DTLS)',
  providerVideo: 'provider sees patient video',
  patientVideo: 'patient sees provider video',
};
console.log(`\n${runs} runs, times from the provider's POST /webrtc/calls (ms):`);
console.log(`${'phase'.padEnd(48)}   median      p95      min      max`);
for (const k of keys) {
  const s = stats[k];
  console.log(`${label[k].padEnd(48)} ${fmt(s.median)} ${fmt(s.p95)} ${fmt(s.min)} ${fmt(s.max)}`);
}
const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  chromium: execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
  binary: server.binary,
  bundleServedBy: serveBundle ? 'server' : 'page.route (working tree file)',
  providerOptions,
  // Other work on the machine skews the figures: say how busy it was.
  loadAvg1mBefore: Number(loadBefore.toFixed(2)),
  loadAvg1mAfter: Number(os.loadavg()[0].toFixed(2)),
};
console.log(`\nmachine: ${JSON.stringify(machine)}`);
if (jsonPath) {
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify({ runs, stats, rows, machine, at: new Date().toISOString() }, null, 2));
}
if (P.errors.length || Q.errors.length) {
  console.error('page errors:', [...P.errors, ...Q.errors]);
  process.exitCode = 1;
}
