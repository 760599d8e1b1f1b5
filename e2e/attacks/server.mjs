// The attack suites' own server handle: like ../signaling/helpers.mjs's startServer, but it
// keeps the child's pid (to read its resident memory) and its whole stderr (to search the
// logs), and tells whether the process is still alive.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BINARY, SECRET, sleep, freePort } from '../signaling/helpers.mjs';

/** Starts `vytalcall serve`; `env` overrides (a key set to undefined is removed). */
export async function startServer(env = {}) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'vytalcall-attack-'));
  const merged = {
    PATH: process.env.PATH,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    JWT_SECRET: SECRET,
    JWT_LEEWAY_SECONDS: '0',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    ...(process.env.E2E_DATABASE_URL ? { DATABASE_URL: process.env.E2E_DATABASE_URL } : {}),
    ...env,
  };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  const child = spawn(BINARY, ['serve'], { env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  const keep = (d) => {
    logs += d;
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${logs.slice(-4000)}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`server did not start: ${logs.slice(-4000)}`);
    await sleep(50);
  }
  return {
    url,
    port,
    pid: child.pid,
    logs: () => logs,
    alive: () => child.exitCode === null && child.signalCode === null,
    /** Resident set size in KiB, from /proc/<pid>/status. */
    rssKiB() {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return Number(m[1]);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The admin's view of the audit trail for one call (newest first). */
export async function auditOf(server, admin, callId) {
  const r = await fetch(`${server.url}/webrtc/audit?callId=${callId}&limit=500`, {
    headers: { authorization: `Bearer ${admin.token}` },
  });
  if (r.status !== 200) throw new Error(`audit: ${r.status} ${await r.text()}`);
  return (await r.json()).entries;
}
