// Log hygiene: a whole call (REST create, join, offer/answer with a recognisable SDP marker,
// ICE candidates, media and quality updates, leave, end) against a server logging at
// `debug`; its stdout and stderr must contain no token, no SDP or candidate body and no
// user display name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { api, createCall, connect, recorder, ask, closeAll, sleep, SECRET } from '../signaling/helpers.mjs';
import { startServer } from './server.mjs';

const SDP_MARKER = 'x-vytal-secret-sdp-marker-5d1e';
const ICE_MARKER = '198.51.100.173';
const person = (role, name) => {
  const id = randomUUID();
  return { id, role, name, token: jwt.sign({ sub: id, role, name }, SECRET, { algorithm: 'HS256', expiresIn: 600 }) };
};

let server;
before(async () => {
  server = await startServer({ RUST_LOG: 'debug' });
});
after(async () => {
  closeAll();
  await server.stop();
});

test('a full call at RUST_LOG=debug logs no token, SDP, candidate or name', async () => {
  const provider = person('provider', 'Dr Ottoline Quimby-Farrow');
  const patient = person('patient', 'Ysolde Brackenridge-Ames');
  const prov = await connect(server, provider);
  const pat = await connect(server, patient, { transports: ['polling'] }); // both transports
  const [provEv, patEv] = [recorder(prov), recorder(pat)];
  const callId = await createCall(server, provider, patient);
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId })).ok, true);
  const sdp = (kind) => `v=0\r\no=- 1 2 IN IP4 ${ICE_MARKER}\r\ns=${kind}\r\na=${SDP_MARKER}\r\n`;
  assert.equal((await ask(prov, 'offer', { callId, offer: { type: 'offer', sdp: sdp('offer') }, targetUserId: patient.id })).ok, true);
  await patEv.next('offer');
  assert.equal((await ask(pat, 'answer', { callId, answer: { type: 'answer', sdp: sdp('answer') } })).ok, true);
  await provEv.next('answer');
  const candidate = { candidate: `candidate:7 1 udp 2122260223 ${ICE_MARKER} 54321 typ host ${SDP_MARKER}`, sdpMid: '0', sdpMLineIndex: 0 };
  for (const s of [prov, pat]) assert.equal((await ask(s, 'ice-candidate', { callId, candidate })).ok, true);
  // Refused events and a refused handshake log too; they must not echo their input either.
  await ask(pat, 'offer', { callId, offer: { type: 'offer', sdp: sdp('x') }, targetUserId: randomUUID() });
  await ask(pat, 'offer', { callId, offer: { type: 'bogus', sdp: sdp('y') } });
  await connect(server, null, { auth: { token: provider.token.slice(0, -3) + 'abc' } }).catch(() => {});
  assert.equal((await ask(pat, 'update-media', { callId, videoEnabled: false })).ok, true);
  assert.equal((await ask(pat, 'connection-quality', { callId, metrics: { bandwidth: 100, latency: 400, packetLoss: 9, jitter: 80 } })).ok, true);
  assert.equal((await api(server, provider, 'GET', `/calls/${callId}`)).status, 200);
  // The routes that return names (whom to call) log none either.
  assert.equal((await api(server, provider, 'GET', '/patients/recent')).status, 200);
  assert.equal((await api(server, provider, 'GET', `/people/${patient.id}`)).status, 200);
  assert.equal((await api(server, patient, 'GET', '/patients/recent')).status, 403);
  assert.equal((await ask(pat, 'leave-call', { callId })).ok, true);
  assert.equal((await api(server, provider, 'POST', `/calls/${callId}/end`, { reason: 'done' })).status, 200);
  await sleep(500);

  const logs = server.logs();
  assert.ok(logs.length > 0, 'the server logged at debug');
  const leaks = [];
  for (const [what, needle] of [
    ['provider token', provider.token],
    ['patient token', patient.token],
    ['token signature', provider.token.split('.')[2]],
    ['token claims', provider.token.split('.')[1]],
    ['SDP marker', SDP_MARKER],
    ['SDP body', 'IN IP4'],
    ['candidate address', ICE_MARKER],
    ['provider name', 'Quimby'],
    ['patient name', 'Brackenridge'],
  ]) {
    const at = logs.indexOf(needle);
    if (at >= 0) leaks.push(`${what}: ...${logs.slice(Math.max(0, at - 200), at + 80)}...`);
  }
  assert.deepEqual(leaks, [], `the logs leak:\n${leaks.join('\n')}`);
});
