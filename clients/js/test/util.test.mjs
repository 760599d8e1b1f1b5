// Unit tests of the small helpers: token subject, politeness, fingerprints, URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isPolite, normalizeApiUrl, safeErrorText, sdpFingerprint, tokenSubject, SERVER_EVENTS, CLIENT_EVENTS } from '../dist/index.js';

const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims) => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.c2ln`;

test('tokenSubject reads sub (base64url, any padding), and refuses what is not a JWT with sub', () => {
  assert.equal(tokenSubject(jwt({ sub: 'user-1', role: 'patient', exp: 1 })), 'user-1');
  assert.equal(tokenSubject(jwt({ sub: 'ü>?~', x: 'ab' })), 'ü>?~');
  assert.throws(() => tokenSubject('not-a-token'), /not a JWT/);
  assert.throws(() => tokenSubject(jwt({ role: 'patient' })), /no sub claim/);
  assert.throws(() => tokenSubject(jwt({ sub: 42 })), /no sub claim/);
});

test('tokenSubject errors never contain the token', () => {
  const secretish = 'eyJhbGciOi.bad-payload-SECRET.sig';
  try {
    tokenSubject(secretish);
    assert.fail('should throw');
  } catch (e) {
    assert.ok(!String(e.message).includes('SECRET'));
  }
});

test('exactly one of two peers is polite, and a peer cannot negotiate with itself', () => {
  const a = '11111111-1111-4111-8111-111111111111';
  const b = '22222222-2222-4222-8222-222222222222';
  assert.notEqual(isPolite(a, b), isPolite(b, a));
  assert.equal(isPolite(b, a), true);
  assert.throws(() => isPolite(a, a));
});

test('sdpFingerprint finds the DTLS fingerprint, case-insensitively', () => {
  const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AB:CD:EF\r\na=setup:actpass\r\n';
  assert.equal(sdpFingerprint(sdp), 'sha-256 ab:cd:ef');
  assert.equal(sdpFingerprint('v=0\r\n'), null);
  assert.equal(sdpFingerprint(undefined), null);
});

test('normalizeApiUrl drops trailing slashes only', () => {
  assert.equal(normalizeApiUrl('https://h:8080///'), 'https://h:8080');
  assert.equal(normalizeApiUrl('https://h/base'), 'https://h/base');
});

test('the event name lists match the tables of docs/signaling.md exactly', () => {
  const doc = readFileSync(new URL('../../../docs/signaling.md', import.meta.url), 'utf8');
  const table = (heading) => {
    const start = doc.indexOf(`## ${heading}`);
    assert.ok(start >= 0, `section ${heading}`);
    const end = doc.indexOf('\n## ', start + 3);
    const names = new Set();
    for (const line of doc.slice(start, end).split('\n')) {
      const m = /^\| ((?:`[a-z-]+`(?: \/ )?)+) \|/.exec(line);
      if (m) for (const n of m[1].matchAll(/`([a-z-]+)`/g)) names.add(n[1]);
    }
    return [...names].sort();
  };
  assert.deepEqual([...CLIENT_EVENTS].sort(), table('Client → server'));
  assert.deepEqual([...SERVER_EVENTS].filter((e) => e !== 'session-expired').sort(), table('Server → client'));
});

test('safeErrorText keeps ordinary messages and withholds any that quote SDP or candidates', () => {
  const e = new Error('Called in wrong state: stable');
  e.name = 'InvalidStateError';
  assert.equal(safeErrorText(e), 'InvalidStateError: Called in wrong state: stable');
  const sdp = new Error("Failed to parse SessionDescription. a=fingerprint:sha-256 AB:CD Invalid");
  sdp.name = 'OperationError';
  assert.equal(safeErrorText(sdp), 'OperationError (details withheld: they quote SDP)');
  assert.match(safeErrorText(new Error('bad candidate:1 1 udp 2122260223 192.0.2.2 5000 typ host')), /withheld/);
  assert.equal(safeErrorText('plain'), 'Error: plain');
  assert.equal(safeErrorText(null), 'Error: null');
});
