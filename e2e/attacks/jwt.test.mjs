// JWT attacks over the Socket.IO handshake (and the same tokens over REST): alg `none`,
// HS/RS key confusion, `kid`/`jwk`/`jku` header tricks, expired, not-yet-valid, tampered
// claims and wrong role values. Every one is a `connect_error` and a 401; the genuine
// tokens of each kind connect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, closeAll, SECRET } from '../signaling/helpers.mjs';
import { startServer } from './server.mjs';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'crates', 'server', 'tests', 'fixtures');
const RSA_PUB_FILE = join(fixtures, 'rsa.pub');
const RSA_PUB = readFileSync(RSA_PUB_FILE, 'utf8');
const RSA_PRIV = readFileSync(join(fixtures, 'rsa.pem'), 'utf8');

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const claims = (extra = {}) => ({ sub: randomUUID(), role: 'patient', name: 'Pat Example', exp: now() + 600, ...extra });

function hs256(header, payload, secret) {
  const input = `${b64({ typ: 'JWT', ...header, alg: header.alg ?? 'HS256' })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
function rs256(header, payload, privateKey) {
  const input = `${b64({ typ: 'JWT', alg: 'RS256', ...header })}.${b64(payload)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
}
const unsigned = (header, payload) => `${b64(header)}.${b64(payload)}.`;

let both; // JWT_SECRET and an RSA public key
let rsaOnly; // an RSA public key only: the classic HS/RS confusion target
before(async () => {
  both = await startServer({ JWT_PUBLIC_KEY_FILE: RSA_PUB_FILE });
  rsaOnly = await startServer({ JWT_SECRET: undefined, JWT_PUBLIC_KEY_FILE: RSA_PUB_FILE });
});
after(async () => {
  closeAll();
  await both?.stop();
  await rsaOnly?.stop();
});

/** Resolves with the connect_error message; fails if the handshake is accepted. */
async function refused(server, token) {
  const err = await connect(server, null, { auth: { token } }).then(
    (s) => {
      s.close();
      assert.fail(`accepted: ${token.slice(0, 60)}...`);
    },
    (e) => e,
  );
  assert.match(err.message, /^unauthorized: /);
  assert.ok(!err.message.includes(token.split('.')[1] ?? token), 'the refusal does not echo the token');
  const r = await fetch(`${server.url}/webrtc/calls`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 401, 'REST refuses the same token');
  return err.message;
}

test('genuine HS256 and RS256 tokens connect (the controls)', async () => {
  (await connect(both, null, { auth: { token: hs256({}, claims(), SECRET) } })).close();
  (await connect(both, null, { auth: { token: rs256({}, claims(), RSA_PRIV) } })).close();
  (await connect(rsaOnly, null, { auth: { token: rs256({}, claims(), RSA_PRIV) } })).close();
});

test('alg none, in every spelling, with or without a signature, is refused', async () => {
  for (const alg of ['none', 'None', 'NONE', 'nOnE', '']) {
    for (const server of [both, rsaOnly]) {
      await refused(server, unsigned({ alg, typ: 'JWT' }, claims()));
      await refused(server, unsigned({ alg, typ: 'JWT' }, claims()) + 'c2ln');
    }
  }
  // A genuine token with its header swapped to none, signature kept or dropped.
  const genuine = hs256({}, claims(), SECRET).split('.');
  await refused(both, `${b64({ alg: 'none', typ: 'JWT' })}.${genuine[1]}.${genuine[2]}`);
  await refused(both, `${b64({ alg: 'none', typ: 'JWT' })}.${genuine[1]}.`);
});

test('HS/RS key confusion: HS256 signed with the RSA public key is refused', async () => {
  for (const secret of [RSA_PUB, RSA_PUB.trim(), Buffer.from(RSA_PUB)]) {
    assert.match(await refused(both, hs256({}, claims(), secret)), /signature/);
    assert.match(await refused(rsaOnly, hs256({}, claims(), secret)), /algorithm|signature/);
  }
  // An RS256 token relabelled HS256 (signature kept), and an ES256 one where only RSA is set.
  const rs = rs256({}, claims(), RSA_PRIV).split('.');
  await refused(both, `${b64({ alg: 'HS256', typ: 'JWT' })}.${rs[1]}.${rs[2]}`);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const esInput = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims())}`;
  const esSig = createSign('SHA256').update(esInput).sign({ key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  await refused(both, `${esInput}.${esSig}`);
  // RS256 signed by another RSA key.
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  assert.match(await refused(both, rs256({}, claims(), other.privateKey)), /signature/);
  // Other algorithms are not accepted at all.
  for (const alg of ['HS384', 'HS512', 'PS256', 'RS512', 'EdDSA']) await refused(both, hs256({ alg }, claims(), SECRET));
});

test('kid, jku, jwk and x5u headers cannot choose the key', async () => {
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = attacker.publicKey.export({ format: 'jwk' });
  const cases = [
    hs256({ kid: '/dev/null' }, claims(), ''),
    hs256({ kid: '../../../../../../dev/null' }, claims(), Buffer.alloc(0)),
    hs256({ kid: RSA_PUB_FILE }, claims(), RSA_PUB),
    hs256({ kid: "x' UNION SELECT 'attacker-secret' --" }, claims(), 'attacker-secret'),
    hs256({ kid: 'http://127.0.0.1:1/key' }, claims(), 'attacker-secret'),
    rs256({ jwk }, claims(), attacker.privateKey),
    rs256({ jku: 'http://127.0.0.1:1/jwks.json', kid: 'k1' }, claims(), attacker.privateKey),
    rs256({ x5u: 'http://127.0.0.1:1/cert.pem' }, claims(), attacker.privateKey),
  ];
  for (const token of cases) {
    await refused(both, token);
    await refused(rsaOnly, token);
  }
});

test('expired, not yet valid, and tokens without exp are refused', async () => {
  assert.match(await refused(both, hs256({}, claims({ exp: now() - 5 }), SECRET)), /expired/);
  assert.match(await refused(both, rs256({}, claims({ exp: now() - 5 }), RSA_PRIV)), /expired/);
  assert.match(await refused(both, hs256({}, claims({ nbf: now() + 300 }), SECRET)), /not valid yet|not yet valid/);
  assert.match(await refused(both, rs256({}, claims({ nbf: now() + 300 }), RSA_PRIV)), /not valid yet|not yet valid/);
  const { exp, ...noExp } = claims();
  await refused(both, hs256({}, noExp, SECRET));
  await refused(both, hs256({}, claims({ exp: String(now() + 600) }), SECRET));
  await refused(both, hs256({}, claims({ exp: 1e20 * 1e10 }), SECRET));
});

test('tampered claims are refused: the signature covers them', async () => {
  for (const sign of [(c) => hs256({}, c, SECRET), (c) => rs256({}, c, RSA_PRIV)]) {
    const [h, , s] = sign(claims()).split('.');
    await refused(both, `${h}.${b64(claims({ role: 'admin' }))}.${s}`);
    await refused(both, `${h}.${b64(claims({ exp: now() + 10 ** 8 }))}.${s}`);
    await refused(both, `${h}.${b64(claims({ sub: randomUUID() }))}.${s}`);
    // A flipped signature bit, a truncated signature, an empty one.
    const flipped = Buffer.from(s, 'base64url');
    flipped[0] ^= 1;
    const body = sign(claims()).split('.')[1];
    await refused(both, `${h}.${body}.${flipped.toString('base64url')}`);
    await refused(both, `${h}.${body}.${s.slice(0, 10)}`);
    await refused(both, `${h}.${body}.`);
  }
});

test('a wrong role value or a malformed subject is refused even when correctly signed', async () => {
  for (const role of ['superadmin', 'Admin', 'ADMIN', 'admin ', '', null, 1, ['admin'], { admin: true }, 'patient,admin']) {
    assert.match(await refused(both, hs256({}, claims({ role }), SECRET)), /role/, JSON.stringify(role));
  }
  for (const sub of ['admin', '', 42, null, `${randomUUID()}' OR '1'='1`, ['x']]) {
    await refused(both, hs256({}, claims({ sub }), SECRET));
  }
});
