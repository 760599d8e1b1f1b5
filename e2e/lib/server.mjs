// The one way the suites start a vytalcall binary: `vytalcall serve` on a free port with a
// temporary DATA_DIR (unless the caller names one), the suites' JWT secret, and the child's
// output kept for failure messages and log searches. Resolves once the server answers its
// health (or readiness) endpoint; the handle stops it (SIGTERM, or SIGKILL as when a machine
// dies), and a child is never left behind when the test process exits.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BINARY = process.env.VYTALCALL_BIN ?? join(ROOT, 'target', 'debug', 'vytalcall');
export const SECRET = 'e2e-secret-e2e-secret-e2e-secret-e2e';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

/** DATABASE_URL from E2E_DATABASE_URL (the suites against PostgreSQL; ids are random, so suites share it). */
export const e2eDatabase = () => (process.env.E2E_DATABASE_URL ? { DATABASE_URL: process.env.E2E_DATABASE_URL } : {});

// Children still running: killed when this process exits, also when it is interrupted or
// terminated (the test runner cancelling a file, Ctrl-C on the benchmark).
const running = new Set();
process.once('exit', () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

/**
 * Starts `vytalcall serve`. `env` overrides the defaults (a key set to undefined is removed);
 * without PORT a free port is taken, without DATA_DIR a temporary one (removed by `stop`).
 * `ready`: the path polled until it answers 2xx (`/healthz`, or `/readyz` when the test needs
 * the database and Redis up). `logLimit`: how many characters of output to keep (the tail).
 */
export async function launchServer({ env = {}, binary = BINARY, ready = '/healthz', name = 'server', logLimit = 1_000_000, startTimeoutMs = 30000 } = {}) {
  const ownDataDir = env.DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), `vytalcall-${name}-`)) : null;
  const merged = {
    PATH: process.env.PATH,
    HOST: '127.0.0.1',
    PORT: env.PORT ?? String(await freePort()),
    JWT_SECRET: SECRET,
    JWT_LEEWAY_SECONDS: '0',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    ...(ownDataDir ? { DATA_DIR: ownDataDir } : {}),
    ...env,
  };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  const child = spawn(binary, ['serve'], { env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let logs = '';
  const keep = (d) => {
    logs += d;
    if (logs.length > logLimit) logs = logs.slice(-logLimit);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((r) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      r({ code, signal });
    }),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  const removeDataDir = () => ownDataDir && rmSync(ownDataDir, { recursive: true, force: true });
  const url = `http://127.0.0.1:${merged.PORT}`;
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (!alive()) {
      removeDataDir();
      throw new Error(`${name} exited: ${logs.slice(-4000)}`);
    }
    try {
      if ((await fetch(`${url}${ready}`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      removeDataDir();
      throw new Error(`${name} did not answer ${ready} within ${startTimeoutMs} ms: ${logs.slice(-4000)}`);
    }
    await sleep(50);
  }
  return {
    name,
    url,
    port: Number(merged.PORT),
    pid: child.pid,
    env: merged,
    dataDir: merged.DATA_DIR,
    logs: () => logs,
    alive,
    /** Resident set size in KiB, from /proc/<pid>/status. */
    rssKiB() {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return Number(m[1]);
    },
    /** SIGKILL, no shutdown work at all; the signal goes out synchronously, resolves once reaped. */
    kill() {
      if (alive()) child.kill('SIGKILL');
      return exited;
    },
    /** SIGTERM (a graceful shutdown), then the temporary DATA_DIR is removed. */
    async stop() {
      if (alive()) child.kill('SIGTERM');
      await exited;
      removeDataDir();
    },
  };
}
