// Webhooks from two nodes sharing one PostgreSQL database: both run a delivery worker over
// the same outbox, and the lease each takes on a delivery (a compare-and-set UPDATE) means
// no event is delivered twice, while every event is delivered, in order per call. The
// receiver answers slowly so that both workers see the same deliveries due at once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { user, api, createCall, freePort, sleep } from '../signaling/helpers.mjs';
import { cluster } from './cluster.mjs';

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('two nodes on one database deliver every event once, in order per call', async () => {
  const key = `whsec_${randomBytes(32).toString('base64')}`;
  const wh = new Webhook(key);
  const port = await freePort();
  const got = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const payload = wh.verify(body, req.headers);
      got.push({ id: req.headers['webhook-id'], payload });
      setTimeout(() => res.writeHead(204).end(), 150);
    });
  });
  await new Promise((r) => receiver.listen(port, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => { receiver.closeAllConnections(); receiver.close(r); }));

  const c = await cluster({
    env: {
      WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
      WEBHOOK_SECRET: key,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_BASE_SECONDS: '1',
      WEBHOOK_RETRY_MAX_SECONDS: '1',
    },
  });
  cleanups.push(() => c.stop());
  const a = await c.node('a');
  const b = await c.node('b');

  const calls = [];
  for (let i = 0; i < 8; i++) {
    const via = i % 2 ? a : b;
    const provider = user('provider');
    const patient = user('patient');
    const callId = await createCall(via, provider, patient);
    assert.equal((await api(i % 3 ? b : a, patient, 'POST', `/calls/${callId}/answer`, {})).status, 200);
    assert.equal((await api(via, provider, 'POST', `/calls/${callId}/end`, {})).status, 200);
    calls.push(callId);
  }
  const expected = calls.length * 4;
  const deadline = Date.now() + 90_000;
  while (got.length < expected && Date.now() < deadline) await sleep(100);
  assert.equal(got.length >= expected, true, `every event arrived (${got.length} of ${expected})`);

  // Every delivery is recorded as delivered before anything more could arrive.
  const admin = user('admin');
  for (;;) {
    const r = await api(a, admin, 'GET', '/webhooks/00000000-0000-4000-8000-00000000e4b0/deliveries?limit=100');
    assert.equal(r.status, 200);
    if (r.body.deliveries.length === expected && r.body.deliveries.every((d) => d.status === 'delivered')) {
      assert.ok(r.body.deliveries.every((d) => d.attempts === 1), 'each sent once');
      break;
    }
    assert.ok(Date.now() < deadline, JSON.stringify(r.body.deliveries));
    await sleep(100);
  }
  const ids = got.map((g) => g.id);
  assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
  assert.equal(ids.length, expected);
  for (const callId of calls) {
    const types = got.filter((g) => g.payload.data.callId === callId).map((g) => g.payload.type);
    assert.deepEqual(types, ['call.created', 'call.ringing', 'call.answered', 'call.ended']);
  }
});
