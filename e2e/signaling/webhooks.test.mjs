// Webhooks as a receiver sees them, verified by the official `standardwebhooks` npm package
// used as it is: every delivery of a full call (create, ring, answer, record, stop, ready,
// end) in order; a tampered signature refused by the library; a receiver that is down while
// three calls happen gets every event once it is back; a server SIGKILLed with events
// undelivered sends every one after its restart with the same webhook-id; a receiver that
// hangs for 30 s does not slow signaling (a relay round trip is measured while it hangs).
// Retries are made short for the test (WEBHOOK_RETRY_BASE_SECONDS / _MAX_SECONDS = 1); every
// wait polls for a state with a generous deadline.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { startServer, user, api, createCall, connect, recorder, ask, closeAll, freePort, sleep } from './helpers.mjs';

/** The endpoint WEBHOOK_URL configures (its id is fixed). */
const ENV_ENDPOINT = '00000000-0000-4000-8000-00000000e4b0';
const admin = user('admin');
const cleanups = [];
after(async () => {
  closeAll();
  for (const c of cleanups.reverse()) await c();
});

/**
 * A receiver on `port` that verifies every delivery with the official library. `mode`:
 * 'ok' answers 204, 'fail' 503, 'hang' holds the request `hangMs` before answering.
 */
async function receiver(secret, port) {
  const wh = new Webhook(secret);
  const r = { port, mode: 'ok', hangMs: 30_000, all: [], verified: [], rejected: [], hanging: 0, server: null };
  r.start = () =>
    new Promise((resolve) => {
      r.server = createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          const headers = {
            'webhook-id': req.headers['webhook-id'],
            'webhook-timestamp': req.headers['webhook-timestamp'],
            'webhook-signature': req.headers['webhook-signature'],
          };
          const got = { headers, body, mode: r.mode };
          r.all.push(got);
          if (r.mode === 'hang') {
            r.hanging += 1;
            setTimeout(() => {
              r.hanging -= 1;
              if (!res.destroyed) res.writeHead(204).end();
            }, r.hangMs).unref();
            return;
          }
          if (r.mode === 'fail') return res.writeHead(503).end();
          try {
            const payload = wh.verify(body, headers);
            r.verified.push({ id: headers['webhook-id'], payload });
            res.writeHead(204).end();
          } catch (e) {
            r.rejected.push({ headers, error: e });
            res.writeHead(400).end();
          }
        });
      });
      r.server.listen(port, '127.0.0.1', resolve);
    });
  r.stop = () =>
    new Promise((resolve) => {
      if (!r.server) return resolve();
      r.server.closeAllConnections();
      r.server.close(() => resolve());
      r.server = null;
    });
  await r.start();
  cleanups.push(r.stop);
  return r;
}

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;

function webhookEnv(port, key, extra = {}) {
  return {
    WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
    WEBHOOK_SECRET: key,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_RETRY_BASE_SECONDS: '1',
    WEBHOOK_RETRY_MAX_SECONDS: '1',
    ...extra,
  };
}

async function until(what, check, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await sleep(100);
  }
}

const ofCall = (rec, callId) => rec.verified.filter((v) => v.payload.data.callId === callId).map((v) => v.payload.type);

async function deliveries(server) {
  const r = await api(server, admin, 'GET', `/webhooks/${ENV_ENDPOINT}/deliveries?limit=100`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.deliveries;
}

/** A call from creation to its end over REST. */
async function shortCall(server) {
  const provider = user('provider');
  const patient = user('patient');
  const callId = await createCall(server, provider, patient);
  assert.equal((await api(server, patient, 'POST', `/calls/${callId}/answer`, {})).status, 200);
  assert.equal((await api(server, provider, 'POST', `/calls/${callId}/end`, {})).status, 200);
  return callId;
}

test('every delivery of a full call verifies with the official library, in order, and a tampered one does not', async () => {
  const key = secret();
  const rec = await receiver(key, await freePort());
  const server = await startServer(webhookEnv(rec.port, key));
  cleanups.push(() => server.stop());
  const provider = user('provider');
  const patient = user('patient');
  const callId = await createCall(server, provider, patient);
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  assert.equal((await api(server, patient, 'POST', `/calls/${callId}/answer`, {})).status, 200);
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId })).ok, true);
  const started = await api(server, provider, 'POST', `/calls/${callId}/record`, {
    consentObtained: true,
    consentedParticipants: [provider.id, patient.id],
    consentMethod: 'verbal',
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const recordingId = started.body.id;
  const stopped = await api(server, provider, 'POST', `/calls/${callId}/recordings/${recordingId}/stop`, {});
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  assert.equal((await api(server, provider, 'POST', `/calls/${callId}/end`, {})).status, 200);

  await until('call.ended', () => ofCall(rec, callId).includes('call.ended'));
  const types = ofCall(rec, callId);
  const milestones = ['call.created', 'call.ringing', 'call.answered', 'recording.started', 'recording.stopped', 'recording.ready', 'call.ended'];
  const positions = milestones.map((t) => types.indexOf(t));
  assert.ok(positions.every((p) => p >= 0), `every milestone arrived: ${types}`);
  assert.deepEqual([...positions].sort((a, b) => a - b), positions, `in order: ${types}`);
  assert.equal(types.filter((t) => t === 'participant.joined').length, 2, `${types}`);
  assert.equal(types.filter((t) => t === 'consent.recorded').length, 2, `${types}`);
  assert.equal(rec.rejected.length, 0);
  const ready = rec.verified.find((v) => v.payload.type === 'recording.ready').payload;
  assert.equal(ready.data.recordingId, recordingId);
  assert.equal(ready.data.status, 'completed');
  for (const v of rec.verified) {
    assert.match(v.id, /^msg_/);
    assert.ok(!JSON.stringify(v.payload).includes(`provider ${provider.id.slice(0, 4)}`), 'no names');
  }

  // Tampering: the library refuses a changed body, a changed signature and a stale timestamp.
  const wh = new Webhook(key);
  const sample = rec.all.find((g) => g.headers['webhook-id'] === rec.verified[0].id);
  assert.doesNotThrow(() => wh.verify(sample.body, sample.headers));
  const flipped = sample.headers['webhook-signature'].replace(/v1,(.)/, (_, c) => `v1,${c === 'A' ? 'B' : 'A'}`);
  assert.throws(() => wh.verify(sample.body, { ...sample.headers, 'webhook-signature': flipped }), WebhookVerificationError);
  assert.throws(() => wh.verify(sample.body.replace('"call.', '"kall.'), sample.headers), WebhookVerificationError);
  assert.throws(() => new Webhook(secret()).verify(sample.body, sample.headers), WebhookVerificationError);
  await server.stop();
});

test('a receiver that is down while three calls happen gets every event, in order per call, once it is back', async () => {
  const key = secret();
  const rec = await receiver(key, await freePort());
  const server = await startServer(webhookEnv(rec.port, key));
  cleanups.push(() => server.stop());
  await rec.stop();
  const calls = [await shortCall(server), await shortCall(server), await shortCall(server)];
  // Down until every call's first event has failed at least once.
  await until('failed attempts', async () => {
    const ds = await deliveries(server);
    return calls.every((c) => ds.some((d) => d.callId === c && d.attempts >= 1 && d.lastError));
  });
  await rec.start();
  await until('every event of the three calls', () => calls.every((c) => ofCall(rec, c).length === 4));
  for (const c of calls) assert.deepEqual(ofCall(rec, c), ['call.created', 'call.ringing', 'call.answered', 'call.ended']);
  const ds = (await deliveries(server)).filter((d) => calls.includes(d.callId));
  assert.equal(ds.length, 12);
  assert.ok(ds.every((d) => d.status === 'delivered'), JSON.stringify(ds));
  await server.stop();
});

test('a server SIGKILLed with events undelivered sends every one after its restart, with the same webhook-id', async () => {
  const key = secret();
  const rec = await receiver(key, await freePort());
  rec.mode = 'fail';
  const dataDir = mkdtempSync(join(tmpdir(), 'vytalcall-webhooks-kill-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = webhookEnv(rec.port, key, { DATA_DIR: dataDir });
  const first = await startServer(env);
  const calls = [await shortCall(first), await shortCall(first)];
  const pending = await until('undelivered events', async () => {
    const ds = (await deliveries(first)).filter((d) => calls.includes(d.callId));
    return ds.length === 8 && ds.every((d) => d.status === 'pending') && ds.some((d) => d.attempts >= 1) ? ds : null;
  });
  await first.kill();
  rec.mode = 'ok';
  const second = await startServer(env);
  cleanups.push(() => second.stop());
  const ids = pending.map((d) => d.eventId);
  await until('every undelivered event after the restart', () => ids.every((id) => rec.verified.some((v) => v.id === id)));
  for (const c of calls) assert.deepEqual(ofCall(rec, c), ['call.created', 'call.ringing', 'call.answered', 'call.ended']);
  // The ids the receiver saw failing before the kill are the ids it got afterwards.
  const failedIds = new Set(rec.all.filter((g) => g.mode === 'fail').map((g) => g.headers['webhook-id']));
  assert.ok([...failedIds].every((id) => ids.includes(id)), 'no new ids');
  assert.equal(new Set(rec.verified.map((v) => v.id)).size, rec.verified.length, 'each once after the restart');
  await second.stop();
});

test('a receiver that hangs for 30 s does not slow signaling', async () => {
  const key = secret();
  const rec = await receiver(key, await freePort());
  rec.mode = 'hang';
  const server = await startServer(webhookEnv(rec.port, key, { WEBHOOK_TIMEOUT_SECONDS: '60' }));
  cleanups.push(() => server.stop());
  const provider = user('provider');
  const patient = user('patient');
  const callId = await createCall(server, provider, patient);
  await until('a delivery hanging at the receiver', () => rec.hanging > 0);
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const patEv = recorder(pat);
  assert.equal((await api(server, patient, 'POST', `/calls/${callId}/answer`, {})).status, 200);
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId })).ok, true);
  const trips = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const candidate = { candidate: `candidate:${i} 1 udp 1 192.0.2.1 ${1000 + i} typ host`, sdpMid: '0' };
    const ack = await ask(prov, 'ice-candidate', { callId, candidate });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    await patEv.next('ice-candidate', (e) => e.candidate?.candidate === candidate.candidate);
    trips.push(performance.now() - t0);
    // More events for the hanging receiver's queue while it hangs.
    if (i % 5 === 0) await shortCall(server);
  }
  assert.ok(rec.hanging > 0, 'the receiver was still hanging throughout');
  trips.sort((a, b) => a - b);
  const median = trips[10];
  const max = trips[19];
  console.log(`relay round trip while a receiver hangs: median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms`);
  assert.ok(max < 2000, `a relay round trip stays far below the 30 s hang (max ${max.toFixed(0)} ms)`);
  closeAll();
  await server.stop();
});

test('a visit with a waiting room sends waiting-room.entered and waiting-room.admitted, in order, once per person', async () => {
  const key = secret();
  const rec = await receiver(key, await freePort());
  const server = await startServer(webhookEnv(rec.port, key));
  cleanups.push(() => server.stop());
  const provider = user('provider');
  const patient = user('patient');
  const callId = await createCall(server, provider, patient, { waitingRoom: true });
  const prov = await connect(server, provider);
  const phone = await connect(server, patient);
  const laptop = await connect(server, patient);
  assert.equal((await ask(phone, 'join-call', { callId })).waiting, true);
  assert.equal((await ask(laptop, 'join-call', { callId })).waiting, true);
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(prov, 'admit-participant', { callId, userId: patient.id })).ok, true);
  await until('call.answered', () => ofCall(rec, callId).includes('call.answered'));
  const door = rec.verified.filter((v) => v.payload.data.callId === callId && v.payload.type.startsWith('waiting-room.'));
  assert.deepEqual(door.map((v) => v.payload.type), ['waiting-room.entered', 'waiting-room.admitted'], 'two devices, one entry');
  assert.equal(door[0].payload.data.userId, patient.id);
  assert.equal(door[0].payload.data.position, 1);
  assert.equal(door[1].payload.data.userId, patient.id);
  assert.equal(door[1].payload.data.actorId, provider.id);
  const types = ofCall(rec, callId);
  assert.ok(types.indexOf('waiting-room.admitted') < types.indexOf('call.answered'), `admitted before the visit starts: ${types}`);
});
