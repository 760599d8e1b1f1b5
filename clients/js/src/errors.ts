/** The two errors the client's requests reject with: a REST status, or a signaling refusal. */
/** A REST request answered with an error status; `problem` is the server's problem body (if JSON). */
export class RestError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly problem: unknown,
    detail?: string,
  ) {
    const p = problem as { detail?: unknown; title?: unknown } | null;
    const d = detail ?? (p && typeof p === 'object' ? String(p.detail ?? p.title ?? '') : '');
    super(`${method} ${path}: HTTP ${status}${d ? `: ${d}` : ''}`);
    this.name = 'RestError';
  }
}

/** An event refused by the server (`{ error: { code, message } }`). */
export class SignalingRequestError extends Error {
  constructor(
    readonly event: string,
    readonly code: string,
    message: string,
  ) {
    super(`${event}: ${code}: ${message}`);
    this.name = 'SignalingRequestError';
  }
}
