// The signed-in session: the token arrives in the address's fragment (`#token=...`, never
// sent to any server), moves to sessionStorage (this tab only, gone when it closes), and the
// fragment is cleared so the token is not left in the address bar or history.

const TOKEN_KEY = 'vytalcall.token';
const PREFILL_KEY = 'vytalcall.prefillPatient';
const DEVICE_KEY = 'vytalcall.deviceId';
const CALL_KEY = 'vytalcall.activeCall';

/** The claims of a JWT, unverified (the server verifies); null when it is not a JWT. */
export function decodeClaims(token) {
  const part = typeof token === 'string' ? token.split('.')[1] : undefined;
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

/** Why a token cannot be used here, or null when it looks usable. */
export function tokenProblem(claims, nowSeconds = Date.now() / 1000) {
  if (!claims) return 'This sign-in link or code is not valid.';
  if (typeof claims.sub !== 'string' || !claims.sub) return 'This sign-in link or code is not valid.';
  if (!['provider', 'patient', 'admin'].includes(claims.role)) return 'This sign-in link or code is not valid.';
  if (typeof claims.exp === 'number' && claims.exp < nowSeconds) return 'This sign-in link has expired.';
  return null;
}

/** Moves `#token=...&patient=...` into sessionStorage and clears the fragment. */
export function takeFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  const patient = params.get('patient');
  if (patient) sessionStorage.setItem(PREFILL_KEY, patient);
  history.replaceState(null, '', location.pathname + location.search);
}

/** The current session `{ token, claims, prefillPatient, deviceId }`, or `{ problem }`. */
export function currentSession() {
  takeFragment();
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return { problem: null };
  const claims = decodeClaims(token);
  const problem = tokenProblem(claims);
  if (problem) {
    signOut();
    return { problem };
  }
  return { token, claims, prefillPatient: sessionStorage.getItem(PREFILL_KEY) ?? '', deviceId: deviceId() };
}

export function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
}

export function signOut() {
  for (const k of [TOKEN_KEY, PREFILL_KEY, CALL_KEY]) sessionStorage.removeItem(k);
}

/** One id per browser tab, kept across reloads so a reloaded page resumes as the same device. */
function deviceId() {
  let id = sessionStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `web-${crypto.randomUUID()}`;
    sessionStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** The call this tab is in, so a reload can rejoin it. */
export const activeCall = {
  get: () => sessionStorage.getItem(CALL_KEY),
  set: (id) => sessionStorage.setItem(CALL_KEY, id),
  clear: () => sessionStorage.removeItem(CALL_KEY),
};
