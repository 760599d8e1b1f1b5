// A vytalcall process that can be killed with SIGKILL and started again on the same port,
// the same database and the same DATA_DIR (the launcher of ../lib/server.mjs, given all three,
// neither picks a new port nor deletes the data directory when stopped). Also the
// two databases a crash test runs on: SQLite in the data directory (the embedded default,
// a file the killed process itself was writing) or a fresh PostgreSQL database of its own.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { launchServer, BINARY, SECRET, freePort } from '../lib/server.mjs';

const PG = { host: process.env.E2E_PG_HOST ?? '127.0.0.1', user: process.env.E2E_PG_USER ?? 'postgres' };

/**
 * A place for one server's state that outlives its processes: a data directory and either
 * its SQLite file (`kind = 'sqlite'`, DATABASE_URL left unset as in the embedded default) or
 * a fresh PostgreSQL database (`kind = 'postgres'`). `sql(query)` reads it directly (rows of
 * `|`-separated fields), for what no endpoint shows.
 */
export function storage(kind) {
  const dataDir = mkdtempSync(join(tmpdir(), 'vytalcall-crash-'));
  if (kind === 'sqlite') {
    const file = join(dataDir, 'vytalcall.db');
    return {
      kind,
      dataDir,
      env: { DATA_DIR: dataDir },
      sql: (query) => execFileSync('sqlite3', ['-batch', '-noheader', file, query], { encoding: 'utf8' }),
      dispose() {
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const db = `vytalcall_crash_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const psql = (database, query) =>
    execFileSync('psql', ['-h', PG.host, '-U', PG.user, '-d', database, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', query], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  psql('postgres', `CREATE DATABASE ${db}`);
  return {
    kind,
    dataDir,
    db,
    env: { DATA_DIR: dataDir, DATABASE_URL: `postgres://${PG.user}@${PG.host}/${db}` },
    sql: (query) => psql(db, query),
    dispose() {
      try {
        psql('postgres', `DROP DATABASE IF EXISTS ${db}`);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** The environment every process of one crash test shares (same secret, same storage). */
export function serverEnv(store, port, extra = {}) {
  return {
    PATH: process.env.PATH,
    HOST: '127.0.0.1',
    PORT: String(port),
    JWT_SECRET: SECRET,
    JWT_LEEWAY_SECONDS: '0',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    ...store.env,
    ...extra,
  };
}


/** Starts `vytalcall serve` with exactly `env` (its port, database and data directory, kept
 * across restarts) and waits for `/readyz`. */
export function startProcess(env) {
  return launchServer({ env, ready: '/readyz', name: 'crash', logLimit: 200000 });
}

/** Runs `vytalcall <args>` on the same settings, to completion: `{ status, stdout, stderr }`. */
export function runCommand(env, args) {
  return new Promise((resolve) => {
    execFile(BINARY, args, { env, encoding: 'utf8', timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
