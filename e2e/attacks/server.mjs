// The attack suites' server: ../lib/server.mjs's launcher, keeping the whole output (the
// log tests search it) and the child's pid (to read its resident memory).
import { launchServer, e2eDatabase } from '../lib/server.mjs';

/** Starts `vytalcall serve`; `env` overrides (a key set to undefined is removed). */
export function startServer(env = {}) {
  return launchServer({ env: { ...e2eDatabase(), ...env }, name: 'attack', logLimit: Infinity });
}

/** The admin's view of the audit trail for one call (newest first). */
export async function auditOf(server, admin, callId) {
  const r = await fetch(`${server.url}/webrtc/audit?callId=${callId}&limit=500`, {
    headers: { authorization: `Bearer ${admin.token}` },
  });
  if (r.status !== 200) throw new Error(`audit: ${r.status} ${await r.text()}`);
  return (await r.json()).entries;
}
