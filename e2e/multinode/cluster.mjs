// Several vytalcall processes sharing one fresh PostgreSQL database and one Redis (under a
// key prefix of their own), as a scaled-out deployment runs them. Each node can be stopped
// cleanly or killed with SIGKILL.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { BINARY, SECRET, sleep } from '../signaling/helpers.mjs';

const PG = { host: process.env.E2E_PG_HOST ?? '127.0.0.1', user: process.env.E2E_PG_USER ?? 'postgres' };
export const REDIS_PORT = process.env.E2E_REDIS_PORT ?? '6379';

function freePort() {
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

export function redisCli(...args) {
  return execFileSync('redis-cli', ['-p', REDIS_PORT, ...args], { encoding: 'utf8' }).trim();
}

/** A fresh database and key prefix; `node()` starts a process on them. */
export async function cluster({ grace = 6, env = {} } = {}) {
  const tag = `${process.pid}_${Date.now()}_${randomUUID().slice(0, 6)}`;
  const db = `vytalcall_mn_${tag}`;
  execFileSync('createdb', ['-h', PG.host, '-U', PG.user, db]);
  const prefix = `vc-e2e-${tag}`;
  const shared = {
    DATABASE_URL: `postgres://${PG.user}@${PG.host}/${db}`,
    REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`,
    REDIS_KEY_PREFIX: prefix,
    RECONNECT_GRACE_SECONDS: String(grace),
    ...env,
  };
  const nodes = [];
  return {
    db,
    prefix,
    env: shared,
    nodes,
    /** Starts one more node and waits until it is ready. */
    async node(name) {
      const n = await startNode(name, shared);
      nodes.push(n);
      return n;
    },
    async stop() {
      for (const n of nodes) await n.stop();
      try {
        const keys = redisCli('--scan', '--pattern', `${prefix}*`).split('\n').filter(Boolean);
        for (let i = 0; i < keys.length; i += 100) redisCli('del', ...keys.slice(i, i + 100));
      } catch {
        /* Redis may be away after a fault test; the keys are namespaced by run */
      }
      try {
        execFileSync('dropdb', ['-h', PG.host, '-U', PG.user, '--force', db]);
      } catch {
        /* leave it for inspection */
      }
    },
  };
}

async function startNode(name, env) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `vytalcall-mn-${name}-`));
  const child = spawn(BINARY, ['serve'], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      JWT_SECRET: SECRET,
      JWT_LEEWAY_SECONDS: '0',
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 40000) stderr = stderr.slice(-40000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node ${name} exited: ${stderr}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`node ${name} did not start: ${stderr}`);
    await sleep(100);
  }
  const exited = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
  return {
    name,
    url,
    logs: () => stderr,
    /** SIGKILL: no shutdown work at all, as when a machine dies. */
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function readyz(node) {
  try {
    const r = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(4000) });
    return r.status;
  } catch {
    return 0;
  }
}
