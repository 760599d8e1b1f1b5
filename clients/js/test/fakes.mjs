// Shared fakes of the client's unit tests: an in-memory Socket.IO socket whose server side is
// the test, and a client connected to it with a scripted REST API. The order in which a call's
// events and our own requests' replies arrive is chosen by the test.
import assert from 'node:assert/strict';
import { VytalcallClient } from '../dist/index.js';

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** An unsigned token (the client reads its claims; the fake server does not check it). */
export const tokenFor = (sub, role) => `${b64({ alg: 'none' })}.${b64({ sub, role })}.x`;

/** A socket.io-client socket whose server side is the test: `serverEmit` delivers an event,
 * `replies[event]` answers a request (a function of the payload). */
export function fakeSocket() {
  const handlers = new Map();
  const sent = [];
  const socket = {
    connected: false,
    active: true,
    auth: {},
    replies: {},
    sent,
    on(event, fn) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event).add(fn);
      return socket;
    },
    once(event, fn) {
      const wrap = (...a) => {
        socket.off(event, wrap);
        fn(...a);
      };
      return socket.on(event, wrap);
    },
    off(event, fn) {
      handlers.get(event)?.delete(fn);
      return socket;
    },
    serverEmit(event, ...args) {
      for (const fn of [...(handlers.get(event) ?? [])]) fn(...args);
    },
    timeout() {
      return {
        emit(event, payload, ack) {
          sent.push({ event, payload });
          const reply = socket.replies[event];
          queueMicrotask(() => ack(null, reply ? reply(payload) : { callId: payload?.callId }));
        },
      };
    },
    connect() {},
    disconnect() {
      socket.connected = false;
    },
  };
  return socket;
}

const clients = [];

/** Closes the clients `connectedClient` made (call it in `afterEach`). */
export async function closeClients() {
  for (const c of clients.splice(0)) await c.close();
}

/** A client connected to the fake socket; `rest[path]` answers `fetch` (may return a promise).
 * `RTCPeerConnection` replaces the default, which fails the test when constructed. */
export async function connectedClient(rest, { RTCPeerConnection, token } = {}) {
  const socket = fakeSocket();
  const media = [];
  const client = new VytalcallClient({
    apiUrl: 'http://server.test',
    token,
    io: () => socket,
    fetch: async (url, init = {}) => {
      const path = new URL(url).pathname.replace(/^\/webrtc/, '');
      const answer = rest[`${init.method ?? 'GET'} ${path}`];
      assert.ok(answer, `unexpected request ${init.method ?? 'GET'} ${path}`);
      const body = await answer(init.body ? JSON.parse(init.body) : undefined);
      return { ok: true, status: 200, text: async () => JSON.stringify(body), json: async () => body };
    },
    getUserMedia: async (c) => {
      media.push(c);
      return { getTracks: () => [], getAudioTracks: () => [], getVideoTracks: () => [] };
    },
    RTCPeerConnection:
      RTCPeerConnection ??
      class {
        constructor() {
          throw new Error('no peer connection expected in this test');
        }
      },
  });
  clients.push(client);
  const connected = client.connect();
  socket.connected = true;
  socket.serverEmit('connect');
  await connected;
  const ended = [];
  client.on('call-ended', (e) => ended.push(e));
  return { client, socket, media, ended };
}

/** Polls `check` until it holds (fails the test after about a second). */
export async function until(check, what) {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}
