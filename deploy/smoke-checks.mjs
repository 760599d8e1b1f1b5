// The client side of deploy/smoke: talks to the two vytalcall nodes through nginx (and to
// each node directly) with real HTTP and the real socket.io-client, and prints one line per
// check. deploy/smoke starts the topology and passes its addresses in the environment.
// Exit code 0 when every check passed.
import { createRequire } from 'node:module';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { api } from '../e2e/signaling/helpers.mjs';

// jsonwebtoken and socket.io-client as installed for the end-to-end suites (e2e/).
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(process.env.E2E_DIR ?? join(root, 'e2e'), 'package.json'));
const jwt = require('jsonwebtoken');
const { io } = require('socket.io-client');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (deploy/smoke sets it)`);
  return v;
};
const LB = env('SMOKE_LB_URL');
const LB_TLS = env('SMOKE_LB_TLS_URL');
const NODES = [env('SMOKE_NODE1_URL'), env('SMOKE_NODE2_URL')];
const JWT_SECRET = env('SMOKE_JWT_SECRET');
const TURN_SECRET = env('SMOKE_TURN_SECRET');
const TURN_URL_PREFIX = env('SMOKE_TURN_URL_PREFIX');
const ACCESS_LOG = env('SMOKE_NGINX_ACCESS_LOG');
const TURN_CRED_FILE = env('SMOKE_TURN_CRED_FILE');

let passed = 0;
function ok(what) {
  passed++;
  console.log(`ok   ${what}`);
}
function check(cond, what, detail) {
  if (!cond) throw new Error(`FAIL ${what}${detail === undefined ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}`);
  ok(what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function person(role) {
  const id = randomUUID();
  const name = `smoke ${role}`;
  const token = jwt.sign({ sub: id, role, name }, JWT_SECRET, { algorithm: 'HS256', expiresIn: 600 });
  return { id, role, name, token };
}

/** REST through `base` with the end-to-end suites' helper. */
const rest = (base, who, method, path, body) => api({ url: base }, who, method, path, body);

const sockets = [];
function connect(base, who, transports) {
  const socket = io(`${base}/webrtc`, {
    auth: { token: who.token },
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...(transports ? { transports } : {}),
  });
  sockets.push(socket);
  const seen = [];
  socket.onAny((event, data) => seen.push({ event, data }));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve({ socket, seen }));
    socket.once('connect_error', (e) => reject(new Error(`socket.io connect to ${base}: ${e.message}`)));
  });
}

async function next({ seen }, event, pred = () => true, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = seen.find((e) => e.event === event && pred(e.data));
    if (hit) return hit.data;
    if (Date.now() > deadline) throw new Error(`FAIL timed out waiting for ${event}; saw ${JSON.stringify(seen.map((e) => e.event))}`);
    await sleep(20);
  }
}

const ask = (socket, event, data) => socket.timeout(5000).emitWithAck(event, data);
const fakeSdp = (kind) => `v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=${kind}\r\nt=0 0\r\n`;

async function main() {
  // 1. Both nodes ready (PostgreSQL and Redis answer), directly and through nginx.
  for (const [i, url] of NODES.entries()) {
    const r = await fetch(`${url}/readyz`);
    const body = await r.json();
    check(
      r.status === 200 && body.status === 'ready' && body.database === 'ok' && body.redis === 'ok',
      `node${i + 1} /readyz (direct): ${JSON.stringify(body)}`,
      body,
    );
  }
  const logStart = readFileSync(ACCESS_LOG, 'utf8').length;
  for (let i = 0; i < 6; i++) {
    const r = await fetch(`${LB}/readyz`);
    const body = await r.json();
    if (r.status !== 200 || body.status !== 'ready') throw new Error(`FAIL /readyz through nginx: ${r.status} ${JSON.stringify(body)}`);
  }
  await sleep(200);
  const upstreams = new Set(
    readFileSync(ACCESS_LOG, 'utf8')
      .slice(logStart)
      .split('\n')
      .filter((l) => l.includes('GET /readyz'))
      .map((l) => /upstream=(\S+)/.exec(l)?.[1]),
  );
  const nodeAddrs = NODES.map((u) => new URL(u).host);
  check(
    nodeAddrs.every((a) => upstreams.has(a)),
    `/readyz through nginx: 6 x 200 ready, served by both nodes (${[...upstreams].join(', ')})`,
    [...upstreams],
  );

  const tls = await fetch(`${LB_TLS}/readyz`);
  check(tls.status === 200 && (await tls.json()).status === 'ready', `/readyz through nginx over TLS (${LB_TLS})`, tls.status);

  // 2. REST through nginx with a platform JWT (HS256, JWT_SECRET).
  const provider = person('provider');
  const patient = person('patient');
  const noAuth = await fetch(`${LB}/webrtc/calls`);
  check(noAuth.status === 401, 'REST through nginx without a token: 401', noAuth.status);

  // 3. Signaling. The provider on node1 and the patient's phone on node2 (directly), the
  // patient's laptop through nginx over WebSocket only, and a third device through nginx
  // starting with long-polling and upgrading (the sticky /socket.io/ upstream).
  const prov = await connect(NODES[0], provider, ['websocket']);
  const phone = await connect(NODES[1], patient, ['websocket']);
  const laptop = await connect(LB, patient, ['websocket']);
  check(laptop.socket.io.engine.transport.name === 'websocket', 'Socket.IO through nginx over WebSocket: connected');
  const secure = await connect(LB_TLS, patient, ['websocket']);
  check(secure.socket.io.engine.transport.name === 'websocket', 'Socket.IO through nginx over TLS (wss://): connected');
  const tablet = await connect(LB, patient);
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('FAIL polling → websocket upgrade through nginx did not happen')), 5000);
    if (tablet.socket.io.engine.transport.name === 'websocket') {
      clearTimeout(t);
      resolve();
    }
    tablet.socket.io.engine.once('upgrade', () => {
      clearTimeout(t);
      resolve();
    });
  });
  ok('Socket.IO through nginx, long-polling then upgraded to WebSocket: connected');

  const created = await rest(LB, provider, 'POST', '/calls', { patientId: patient.id, type: 'video' });
  check(
    created.status === 201 && created.body.status === 'ringing',
    `REST through nginx: POST /webrtc/calls → ${created.status} ${created.body.status}`,
    created,
  );
  const callId = created.body.id;
  const read = await rest(LB, patient, 'GET', `/calls/${callId}`);
  check(read.status === 200 && read.body.id === callId, 'REST through nginx: the patient reads the call (GET /webrtc/calls/{id})', read);

  for (const [name, dev] of [['node2 (direct)', phone], ['nginx/websocket', laptop], ['nginx/upgraded', tablet], ['nginx/wss', secure]]) {
    const ring = await next(dev, 'incoming-call', (d) => d.callId === callId);
    check(ring.from === provider.id, `incoming-call reached the patient's device on ${name}`, ring);
  }

  const provJoin = await ask(prov.socket, 'join-call', { callId });
  check(provJoin.ok === true, `provider join-call on node1: ok (${provJoin.status})`, provJoin);
  const patJoin = await ask(phone.socket, 'join-call', { callId });
  check(
    patJoin.ok === true && patJoin.status === 'active' && patJoin.participants.includes(provider.id),
    `patient join-call on node2: ok, call active, participants include the provider (joined on node1)`,
    patJoin,
  );
  const joined = await next(prov, 'participant-joined', (d) => d.callId === callId && d.userId === patient.id);
  check(joined.reconnected === false, 'provider on node1 received participant-joined for the patient on node2 (through Redis)', joined);
  const roster = await next(phone, 'room-participants', (d) => d.callId === callId);
  check(roster.participants.includes(provider.id), 'patient on node2 received room-participants listing the provider on node1', roster);
  const answered = await next(laptop, 'call-answered', (d) => d.callId === callId);
  check(answered.answeredBy === patient.id, "call-answered reached the patient's other device through nginx", answered);

  prov.socket.emit('offer', { callId, offer: { type: 'offer', sdp: fakeSdp('offer') }, targetUserId: patient.id });
  const offer = await next(phone, 'offer', (d) => d.callId === callId);
  check(offer.fromUserId === provider.id, 'offer relayed node1 → node2 with fromUserId', offer);
  phone.socket.emit('answer', { callId, answer: { type: 'answer', sdp: fakeSdp('answer') }, targetUserId: provider.id });
  const answer = await next(prov, 'answer', (d) => d.callId === callId);
  check(answer.fromUserId === patient.id, 'answer relayed node2 → node1 with fromUserId', answer);

  // 4. ICE servers through nginx: TURN credentials that coturn's use-auth-secret accepts.
  const ice = await rest(LB, patient, 'GET', '/ice-servers');
  check(ice.status === 200, 'GET /webrtc/ice-servers through nginx: 200', ice);
  const turn = ice.body.iceServers.find((s) => s.urls.some((u) => u.startsWith('turn:')));
  check(turn && turn.urls.every((u) => u.startsWith(TURN_URL_PREFIX)), `ICE servers include TURN ${turn?.urls.join(' ')}`, ice.body);
  const [expiry, userPart] = turn.username.split(':');
  const expected = createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64');
  check(
    userPart === patient.id && Number(expiry) > Date.now() / 1000 && turn.credential === expected && ice.body.expiresAt,
    `TURN credential is "<expiry>:<user id>" / base64(HMAC-SHA1(TURN_SECRET, username)), expires ${ice.body.expiresAt}`,
    turn,
  );
  writeFileSync(TURN_CRED_FILE, `${turn.username}\n${turn.credential}\n`, { mode: 0o600 });

  // 5. The call ends through nginx; both nodes' participants hear it.
  const ended = await rest(LB, patient, 'POST', `/calls/${callId}/end`, { reason: 'smoke test complete' });
  check(ended.status === 200 && ended.body.status === 'ended', 'REST through nginx: POST /webrtc/calls/{id}/end → ended', ended);
  await next(prov, 'call-ended', (d) => d.callId === callId);
  await next(phone, 'call-ended', (d) => d.callId === callId);
  ok('call-ended reached the provider on node1 and the patient on node2');

  for (const s of sockets) s.close();
  console.log(`client checks: ${passed} passed`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log(e.message.startsWith('FAIL') ? e.message : `FAIL ${e.stack}`);
    for (const s of sockets) s.close();
    process.exit(1);
  },
);
