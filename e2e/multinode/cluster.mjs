// Several vytalcall processes sharing one fresh PostgreSQL database and one Redis (under a
// key prefix of their own), as a scaled-out deployment runs them. Each node can be stopped
// cleanly or killed with SIGKILL.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { launchServer, sleep, freePort } from '../lib/server.mjs';

const PG = { host: process.env.E2E_PG_HOST ?? '127.0.0.1', user: process.env.E2E_PG_USER ?? 'postgres' };
export const REDIS_PORT = process.env.E2E_REDIS_PORT ?? '6379';

export function redisCli(...args) {
  return redisCliAt(REDIS_PORT, ...args);
}

function redisCliAt(port, ...args) {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/**
 * A Redis server of this test's own, on a free port, started with the machine's own command
 * line (no persistence) so that a fault test can stop and restart it without disturbing the
 * shared Redis on 6379 or any other suite running beside it.
 */
export async function privateRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'vytalcall-redis-'));
  const cli = (...args) => redisCliAt(port, ...args);
  const up = () => {
    try {
      return cli('ping') === 'PONG';
    } catch {
      return false;
    }
  };
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    cli,
    /** Starts it (again) and waits until it answers. */
    async start() {
      if (up()) return;
      execFileSync('redis-server', [
        '--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(port), '--save', '',
        '--appendonly', 'no', '--dir', dir, '--logfile', join(dir, 'redis.log'),
        '--pidfile', join(dir, 'redis.pid'),
      ]);
      for (let i = 0; i < 100; i++) {
        if (up()) return;
        await sleep(100);
      }
      throw new Error(`redis on port ${port} did not start`);
    },
    /** Stops it at once, keeping nothing (as the machine's Redis keeps nothing on disk). */
    stop() {
      try {
        cli('shutdown', 'nosave');
      } catch {
        /* redis-cli reports the closed connection as an error */
      }
    },
    async dispose() {
      redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await redis.start();
  return redis;
}

/**
 * A fresh database and key prefix; `node()` starts a process on them. `redisUrl` points the
 * nodes at another Redis than the machine's (a fault test's private one).
 */
export async function cluster({ grace = 6, env = {}, redisUrl = `redis://127.0.0.1:${REDIS_PORT}`, redisCliFn = redisCli } = {}) {
  const tag = `${process.pid}_${Date.now()}_${randomUUID().slice(0, 6)}`;
  const db = `vytalcall_mn_${tag}`;
  execFileSync('createdb', ['-h', PG.host, '-U', PG.user, db]);
  const prefix = `vc-e2e-${tag}`;
  const shared = {
    DATABASE_URL: `postgres://${PG.user}@${PG.host}/${db}`,
    REDIS_URL: redisUrl,
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
        const keys = redisCliFn('--scan', '--pattern', `${prefix}*`).split('\n').filter(Boolean);
        for (let i = 0; i < keys.length; i += 100) redisCliFn('del', ...keys.slice(i, i + 100));
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

/** One node (../lib/server.mjs): ready once `/readyz` says its database and Redis answer. */
function startNode(name, env) {
  return launchServer({ env, ready: '/readyz', name: `mn-${name}`, logLimit: 40000 }).then((node) => ({ ...node, name }));
}

export async function readyz(node) {
  try {
    const r = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(4000) });
    return r.status;
  } catch {
    return 0;
  }
}
