// Test helpers: a real vytalcall binary per suite (free port, temporary DATA_DIR), tokens,
// REST calls and the real npm socket.io-client. Every wait times out fast with a message
// that says what was expected, so a failing test points at the missing event.
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { launchServer, e2eDatabase, BINARY, SECRET, sleep, freePort } from '../lib/server.mjs';

export { BINARY, SECRET, sleep, freePort };

/** Starts the server (../lib/server.mjs); `env` overrides settings (e.g. RECONNECT_GRACE_SECONDS). */
export function startServer(env = {}) {
  return launchServer({ env: { ...e2eDatabase(), ...env }, name: 'e2e' });
}

/** A person with a token; `name` is the token's `name` claim (`null`: no claim). */
export function user(role, { ttlSeconds = 3600, id = randomUUID(), name = `${role} ${id.slice(0, 4)}` } = {}) {
  const claims = name === null ? { sub: id, role } : { sub: id, role, name };
  const token = jwt.sign(claims, SECRET, {
    algorithm: 'HS256',
    expiresIn: ttlSeconds,
  });
  return { id, role, token };
}

export async function api(server, who, method, path, body) {
  const send = () =>
    fetch(`${server.url}/webrtc${path}`, {
      method,
      headers: {
        authorization: `Bearer ${who.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let r;
  try {
    r = await send();
  } catch (err) {
    // A kept-alive connection the server closed while this process was busy (a test that
    // ran ffmpeg synchronously for longer than the server's idle limit) fails the request
    // that reuses it. A GET is safe to send again, as HTTP clients do (RFC 9110, 9.2.2);
    // a server that is really gone fails the second try too.
    if (method !== 'GET' || err?.message !== 'fetch failed') throw err;
    r = await send();
  }
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, body: json };
}

/** Creates an immediate call from `provider` to `patient`; returns its id. */
export async function createCall(server, provider, patient, extra = {}) {
  const r = await api(server, provider, 'POST', '/calls', { patientId: patient.id, type: 'video', ...extra });
  if (r.status !== 201 && r.status !== 200) throw new Error(`create call: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

const sockets = new Set();

/** A socket.io-client socket on /webrtc; resolves once connected. */
export function connect(server, who, opts = {}) {
  const { auth, ...rest } = opts;
  const socket = io(`${server.url}/webrtc`, {
    auth: auth ?? { token: who.token },
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...rest,
  });
  sockets.add(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Closes every socket the helpers opened. */
export function closeAll() {
  for (const s of sockets) s.close();
  sockets.clear();
}

/** Records every event a socket receives, so tests can wait for one or assert none came. */
export function recorder(socket) {
  const seen = [];
  const waiters = [];
  socket.onAny((event, ...args) => {
    seen.push({ event, data: args[0] });
    for (const w of [...waiters]) w();
  });
  return {
    seen,
    events: (name) => seen.filter((e) => e.event === name).map((e) => e.data),
    /** The first `name` event (already seen or yet to come) matching `pred`. */
    next(name, pred = () => true, ms = 4000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = seen.find((e) => e.event === name && pred(e.data) && !e.taken);
          if (hit) {
            hit.taken = true;
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve(hit.data);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`timed out waiting for ${name}; saw ${JSON.stringify(seen.map((e) => e.event))}`));
        }, ms);
        waiters.push(check);
        check();
      });
    },
  };
}

/** Emits with an acknowledgement and resolves with the reply. */
export function ask(socket, event, data, ms = 4000) {
  return socket.timeout(ms).emitWithAck(event, data);
}

export const fakeSdp = (kind, size = 0) =>
  `v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=${kind}\r\nt=0 0\r\n` + 'a=x-pad:'.padEnd(size, 'p');
