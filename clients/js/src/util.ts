/** Small pure helpers used by the client; exported for tests and for custom clients. */

/** The `sub` claim of a JWT (no verification: the server verifies). */
export function tokenSubject(token: string): string {
  const part = token.split('.')[1];
  if (!part) throw new Error('token: not a JWT');
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (part.length % 4)) % 4);
  const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  const claims = JSON.parse(json) as { sub?: unknown };
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new Error('token: no sub claim');
  return claims.sub;
}

/**
 * Perfect negotiation roles: of two peers, exactly one is polite. The polite peer yields
 * (rolls back its own offer) when offers collide; the impolite one ignores the incoming offer.
 * Here the peer with the greater user id is polite.
 */
export function isPolite(selfUserId: string, remoteUserId: string): boolean {
  if (selfUserId === remoteUserId) throw new Error('isPolite: a peer cannot negotiate with itself');
  return selfUserId > remoteUserId;
}

/** The DTLS fingerprint of an SDP (session or first media level), or null. */
export function sdpFingerprint(sdp: string | undefined | null): string | null {
  if (!sdp) return null;
  const m = /^a=fingerprint:(.+)$/m.exec(sdp);
  return m ? m[1].trim().toLowerCase() : null;
}

/** `https://host:port/` → `https://host:port` (no trailing slash). */
export function normalizeApiUrl(apiUrl: string): string {
  return apiUrl.replace(/\/+$/, '');
}

/**
 * An error as text for a console message, without SDP: browsers quote offending SDP lines
 * (and candidates, which carry addresses) in their WebRTC errors, and SDP is never logged.
 */
export function safeErrorText(err: unknown): string {
  const e = err as { name?: unknown; message?: unknown } | null;
  const name = e && typeof e.name === 'string' ? e.name : 'Error';
  const message = e && typeof e.message === 'string' ? e.message : String(err);
  const first = message.split(/\r?\n/)[0].slice(0, 200);
  if (/(^|[\s:])[a-z]=\S|candidate:|ufrag|fingerprint/i.test(message)) return `${name} (details withheld: they quote SDP)`;
  return `${name}: ${first}`;
}
