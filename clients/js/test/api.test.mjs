// The public API documented in README.md exists: the web app and other frontends are built
// against that table, so a method or event documented there must never silently disappear.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as sdk from '../dist/index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = (title) => {
  const start = readme.indexOf(`## ${title}`);
  assert.ok(start >= 0, `README section ${title}`);
  const end = readme.indexOf('\n## ', start + 3);
  return readme.slice(start, end < 0 ? undefined : end);
};

test('every method in the README table is a method of VytalcallClient', () => {
  const names = new Set();
  for (const line of section('Methods').split('\n')) {
    for (const m of (line.split('|')[1] ?? '').matchAll(/`([a-zA-Z]+)\(/g)) names.add(m[1]);
  }
  assert.ok(names.size >= 20, `found ${names.size} methods in the README`);
  for (const name of names) {
    assert.equal(typeof sdk.VytalcallClient.prototype[name], 'function', `VytalcallClient.${name}`);
  }
});

// The options and client events are declared in core.ts (VytalcallClientOptions, VytalcallClientEvents).
test('every option in the README table is named in the options type, and the client needs only a token', () => {
  const dts = readFileSync(new URL('../dist/core.d.ts', import.meta.url), 'utf8');
  for (const line of section('`new VytalcallClient(options)`').split('\n').slice(3)) {
    for (const m of (line.split('|')[1] ?? '').matchAll(/`([a-zA-Z]+)`/g)) {
      assert.match(dts, new RegExp(`\\b${m[1]}\\??:`), `option ${m[1]}`);
    }
  }
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const client = new sdk.VytalcallClient({ apiUrl: 'http://127.0.0.1:1/', token: `${b64({})}.${b64({ sub: 'u1' })}.x` });
  assert.equal(client.userId, 'u1');
  assert.equal(client.state.phase, 'idle');
  assert.throws(() => new sdk.VytalcallClient({ token: `${b64({})}.${b64({ sub: 'u1' })}.x` }), /apiUrl is required/);
});

test('every client event in the README table can be subscribed to and is declared', () => {
  const dts = readFileSync(new URL('../dist/core.d.ts', import.meta.url), 'utf8');
  const events = new Set();
  for (const line of section('Events').split('\n').slice(3)) {
    for (const m of (line.split('|')[1] ?? '').matchAll(/`([a-z-]+)`/g)) events.add(m[1]);
  }
  assert.ok(events.size >= 20, `found ${events.size} events`);
  const declared = dts.slice(dts.indexOf('interface VytalcallClientEvents'));
  for (const e of events) assert.match(declared, new RegExp(`['\\s]${e}'?:`), `event ${e}`);
});

test('the exported names the web app and README rely on exist', () => {
  for (const name of ['VytalcallClient', 'SignalingRequestError', 'RestError', 'callReducer', 'initialCallState', 'parseStats', 'qualityLevel', 'SERVER_EVENTS', 'CLIENT_EVENTS']) {
    assert.ok(name in sdk, name);
  }
});

test('recentPatients and findPerson ask the REST API; an id the server has never seen is null', async () => {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const asked = [];
  const fetch = async (url) => {
    asked.push(String(url));
    if (String(url).includes('/people/')) return new Response(JSON.stringify({ status: 404, title: 'Not Found' }), { status: 404 });
    return new Response(JSON.stringify({ patients: [{ id: 'p1', name: 'Ada', lastCallAt: '2026-12-01T10:00:00.000Z', calls: 2 }] }), { status: 200 });
  };
  const client = new sdk.VytalcallClient({ apiUrl: 'http://127.0.0.1:1', token: `${b64({})}.${b64({ sub: 'u1' })}.x`, fetch });
  const { patients } = await client.recentPatients(5);
  assert.equal(patients[0].name, 'Ada');
  assert.equal(await client.findPerson('00000000-0000-4000-8000-000000000000'), null);
  assert.deepEqual(asked, ['http://127.0.0.1:1/webrtc/patients/recent?limit=5', 'http://127.0.0.1:1/webrtc/people/00000000-0000-4000-8000-000000000000']);
});

test('interactiveTime and the FHIR reads ask their routes with the right media type', async () => {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const asked = [];
  const fetch = async (url, init) => {
    asked.push([String(url), init.headers.accept]);
    if (String(url).includes('/fhir/Encounter?')) return new Response(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [] }), { status: 200 });
    if (String(url).includes('/fhir/')) return new Response(JSON.stringify({ resourceType: 'Encounter', id: 'c1', status: 'finished' }), { status: 200 });
    return new Response(JSON.stringify({ month: '2026-11', timeZone: 'UTC', from: 'a', to: 'b', patients: [] }), { status: 200 });
  };
  const client = new sdk.VytalcallClient({ apiUrl: 'http://127.0.0.1:1', token: `${b64({})}.${b64({ sub: 'u1' })}.x`, fetch });
  assert.equal((await client.interactiveTime('2026-11')).month, '2026-11');
  assert.equal((await client.fhirEncounter('c1')).resourceType, 'Encounter');
  const bundle = await client.fhirEncounters({ subject: 'Patient/p1', date: ['ge2026-11-01', 'lt2026-12-01'] });
  assert.equal(bundle.type, 'searchset');
  assert.deepEqual(asked, [
    ['http://127.0.0.1:1/webrtc/reports/interactive-time?month=2026-11', 'application/json'],
    ['http://127.0.0.1:1/fhir/Encounter/c1', 'application/fhir+json'],
    ['http://127.0.0.1:1/fhir/Encounter?subject=Patient%2Fp1&date=ge2026-11-01&date=lt2026-12-01', 'application/fhir+json'],
  ]);
  // A FHIR error is an OperationOutcome, reported as a RestError with its path.
  const failing = new sdk.VytalcallClient({
    apiUrl: 'http://127.0.0.1:1', token: `${b64({})}.${b64({ sub: 'u1' })}.x`,
    fetch: async () => new Response(JSON.stringify({ resourceType: 'OperationOutcome', issue: [] }), { status: 404 }),
  });
  await assert.rejects(failing.fhirEncounter('nope'), (e) => e instanceof sdk.RestError && e.status === 404 && /\/fhir\/Encounter\/nope/.test(e.message));
});
