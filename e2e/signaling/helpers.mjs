// Test helpers: a real vytalcall binary per suite (free port, temporary DATA_DIR), tokens,
// REST calls and the real npm socket.io-client. Every wait times out fast with a message
// that says what was expected, so a failing test points at the missing event.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BINARY = process.env.VYTALCALL_BIN ?? join(root, 'target', 'debug', 'vytalcall');
export const SECRET = 'e2e-secret-e2e-secret-e2e-secret-e2e';

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts the server; `env` overrides settings (e.g. RECONNECT_GRACE_SECONDS). */
export async function startServer(env = {}) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'vytalcall-e2e-'));
  const child = spawn(BINARY, ['serve'], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      JWT_SECRET: SECRET,
      JWT_LEEWAY_SECONDS: '0',
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      // E2E_DATABASE_URL runs the suites against PostgreSQL (ids are random, so suites share it).
      ...(process.env.E2E_DATABASE_URL ? { DATABASE_URL: process.env.E2E_DATABASE_URL } : {}),
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 20000) stderr = stderr.slice(-20000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`server did not start: ${stderr}`);
    await sleep(50);
  }
  return {
    url,
    dataDir,
    logs: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A person with a token. */
export function user(role, { ttlSeconds = 3600, id = randomUUID() } = {}) {
  const token = jwt.sign({ sub: id, role, name: `${role} ${id.slice(0, 4)}` }, SECRET, {
    algorithm: 'HS256',
    expiresIn: ttlSeconds,
  });
  return { id, role, token };
}

export async function api(server, who, method, path, body) {
  const r = await fetch(`${server.url}/webrtc${path}`, {
    method,
    headers: {
      authorization: `Bearer ${who.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
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
