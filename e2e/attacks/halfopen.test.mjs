// Half-open connections: a TCP connection that never sends a byte, an HTTP request that
// never finishes its headers, a WebSocket that never sends the Socket.IO CONNECT, and an
// authenticated socket that stops answering pings. The server closes each within its
// time-outs (measured and printed), stays up, and a well-behaved call carries on.
// A silent TCP connection and an unfinished request head are closed by the listener's
// header-read time-out (HTTP_HEADER_READ_TIMEOUT_SECONDS, default 10 s) on plain HTTP as on TLS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { user, createCall, connect, recorder, ask, closeAll, fakeSdp } from '../signaling/helpers.mjs';
import { startServer } from './server.mjs';
import { openRaw, rawHandshake } from './raw.mjs';

let server;
let figures; // measured by the first test, judged by both
before(async () => {
  server = await startServer();
});
after(async () => {
  closeAll();
  await server.stop();
});

/** A raw TCP connection; resolves with the ms until the server closed it, or null. */
function tcpHeld(port, firstBytes, ms) {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = tcpConnect(port, '127.0.0.1', () => {
      if (firstBytes) sock.write(firstBytes);
    });
    sock.on('data', () => {});
    sock.on('error', () => {});
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(null);
    }, ms);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

test('half-open connections are closed by the server; a live call is unaffected', { timeout: 120000 }, async () => {
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const callId = await createCall(server, provider, patient);
  const heard = recorder(pat);
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId })).ok, true);

  const LIMIT = 60000;
  const started = Date.now();
  const since = (c) => (c ? c.at - started : null);
  const silentTcp = tcpHeld(server.port, null, LIMIT);
  const slowHeaders = tcpHeld(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', LIMIT);
  const noConnect = await openRaw(server); // Engine.IO open, answers pings, never CONNECTs
  const { raw: noPong, answer } = await rawHandshake(server, { token: patient.token }, { pong: false });
  assert.match(answer, /^40\/webrtc,/, 'the raw client connected');
  const open = JSON.parse(noConnect.frames[0].slice(1));

  // Meanwhile the call works, every few seconds.
  let rounds = 0;
  const probe = (async () => {
    while (Date.now() - started < 50000) {
      const r = await ask(prov, 'offer', { callId, offer: { type: 'offer', sdp: fakeSdp('probe') }, targetUserId: patient.id });
      assert.equal(r.ok, true);
      await heard.next('offer');
      rounds++;
      await new Promise((res) => setTimeout(res, 2000));
    }
  })();

  const [tcpMs, headersMs, noConnectClosed, noPongClosed] = await Promise.all([
    silentTcp,
    slowHeaders,
    noConnect.closedWithin(LIMIT),
    noPong.closedWithin(LIMIT),
  ]);
  await probe;
  figures = {
    pingInterval: open.pingInterval,
    pingTimeout: open.pingTimeout,
    silentTcpMs: tcpMs,
    unfinishedHeadersMs: headersMs,
    websocketWithoutConnectMs: since(noConnectClosed),
    socketNotAnsweringPingsMs: since(noPongClosed),
  };
  console.log(`# half-open figures: ${JSON.stringify(figures)}`);
  assert.ok(noPongClosed, `a socket that stops answering pings is closed (${JSON.stringify(figures)})`);
  assert.ok(since(noPongClosed) <= open.pingInterval + open.pingTimeout + 5000);
  assert.ok(noConnectClosed, `a WebSocket that never sends CONNECT is closed (${JSON.stringify(figures)})`);
  assert.ok(server.alive());
  assert.ok(rounds >= 10, `the call kept working throughout (${rounds} round trips)`);
  assert.ok(prov.connected && pat.connected);
});

test('a TCP connection that never sends a byte, or never finishes its request head, is closed', () => {
  assert.ok(figures, 'measured by the previous test');
  assert.ok(figures.silentTcpMs !== null, `silent TCP closed (${JSON.stringify(figures)})`);
  assert.ok(figures.unfinishedHeadersMs !== null, `unfinished request head closed (${JSON.stringify(figures)})`);
});
