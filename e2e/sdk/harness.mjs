// Shared by the SDK's browser test (./sdk.test.mjs) and the set-up benchmark
// (bench/browser-setup/bench.mjs): a real vytalcall binary (free port, temporary
// DATA_DIR, its own JWT_SECRET), tokens minted by `vytalcall token`, Debian's chromium through
// playwright-core with fake camera/microphone, and pages on the server's origin that load the
// client SDK with a dynamic `import('/assets/vytalcall-client.js')`.
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID, randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { launchServer, ROOT, sleep } from '../lib/server.mjs';

export { ROOT, sleep };
export const BUNDLE = join(ROOT, 'crates', 'server', 'web', 'assets', 'vytalcall-client.js');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** The binary: $VYTALCALL_BIN, else target/release, else target/debug. */
export function binaryPath() {
  if (process.env.VYTALCALL_BIN) return process.env.VYTALCALL_BIN;
  const release = join(ROOT, 'target', 'release', 'vytalcall');
  return existsSync(release) ? release : join(ROOT, 'target', 'debug', 'vytalcall');
}

/** Starts the server (../lib/server.mjs) with a secret of its own; resolves once /healthz
 * answers. `env` overrides settings. `user(role)` mints a token with `vytalcall token`. */
export async function startServer(env = {}) {
  const binary = binaryPath();
  const server = await launchServer({
    binary,
    name: 'browser',
    env: { JWT_SECRET: randomBytes(32).toString('hex'), JWT_LEEWAY_SECONDS: undefined, ...env },
  });
  return {
    ...server,
    binary,
    /** A token for a new user with this role, minted by the binary itself. */
    user(role, id = randomUUID()) {
      const token = execFileSync(binary, ['token', '--user', id, '--role', role], {
        env: server.env,
        encoding: 'utf8',
      }).trim();
      if (token.split('.').length !== 3) throw new Error('vytalcall token printed no JWT');
      return { id, role, token };
    },
  };
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
  });
}

/**
 * Whether the server serves the bundle itself. If not (the web app is not there yet), pages
 * get the committed file through page.route, on the same origin and path.
 */
export async function serverServesBundle(server) {
  try {
    const r = await fetch(`${server.url}/assets/vytalcall-client.js`);
    const body = await r.text();
    return r.ok && body.includes('VytalcallClient');
  } catch {
    return false;
  }
}

const HARNESS_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>SDK harness</title></head>
<body><video id="local" autoplay muted playsinline></video><video id="remote" autoplay playsinline></video></body></html>`;

/**
 * A page in its own browser context on the server's origin, with the SDK imported and a
 * `VytalcallClient` connected for `who` as `window.vc`. Page-side helpers on `window.h`:
 * `h.log` (timestamped events), `h.remoteVideoReady()`, `h.when(name)`.
 */
export async function openClientPage(browser, server, who, { serveBundle, clientOptions = {} } = {}) {
  const context = await browser.newContext({ viewport: { width: 640, height: 480 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const consoleLines = [];
  page.on('console', (m) => {
    if (m.type() === 'warning' || m.type() === 'error') consoleLines.push(`${m.type()}: ${m.text()}`.slice(0, 300));
  });
  if (!serveBundle) {
    const bundle = readFileSync(BUNDLE, 'utf8');
    await page.route(`${server.url}/assets/vytalcall-client.js`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: bundle }),
    );
  }
  // A document the server itself served (so Chrome counts the page as on the server's own
  // local address, and lets its WebSocket through), then the harness markup written into it.
  await page.goto(`${server.url}/healthz`);
  await page.setContent(HARNESS_HTML);
  await page.evaluate(
    async ({ token, clientOptions }) => {
      const sdk = await import('/assets/vytalcall-client.js');
      const now = () => performance.timeOrigin + performance.now();
      const log = [];
      const waiters = new Map();
      const mark = (name, data) => {
        log.push({ name, at: now(), data });
        for (const w of waiters.get(name) ?? []) w(data);
        waiters.delete(name);
      };
      const vc = new sdk.VytalcallClient({ token, ...clientOptions });
      const remote = document.getElementById('remote');
      const local = document.getElementById('local');
      vc.on('local-stream', (s) => (local.srcObject = s));
      vc.on('remote-stream', ({ userId, stream }) => {
        if (remote.srcObject !== stream) remote.srcObject = stream;
        mark('remote-stream');
        // When ICE and DTLS are through (media can flow): a phase of the set-up time.
        const pc = vc.peerConnection(userId);
        if (pc && !pc.__watched) {
          pc.__watched = true;
          const check = () => pc.connectionState === 'connected' && mark('pc-connected');
          pc.addEventListener('connectionstatechange', check);
          check();
        }
      });
      for (const ev of ['incoming-call', 'call-ended', 'participant-joined', 'participant-disconnected', 'participant-left', 'participant-media', 'reconnected', 'audio-only-suggested', 'recording-started', 'recording-stopped']) {
        vc.on(ev, (e) => mark(ev, e));
      }
      vc.on('state', (s) => mark(`phase:${s.phase}`));
      // Remote video is "seen" when a frame of it has been decoded and sized.
      const remoteVideoReady = () =>
        new Promise((resolve) => {
          const check = () => {
            if (remote.videoWidth > 0 && remote.readyState >= 2) {
              mark('remote-video');
              resolve(now());
            } else if ('requestVideoFrameCallback' in remote && remote.srcObject) {
              remote.requestVideoFrameCallback(check);
            } else {
              setTimeout(check, 5);
            }
          };
          check();
        });
      const when = (name) =>
        log.find((e) => e.name === name)
          ? Promise.resolve(log.find((e) => e.name === name).data)
          : new Promise((r) => waiters.set(name, [...(waiters.get(name) ?? []), r]));
      window.vc = vc;
      window.sdk = sdk;
      // Before each new call: forget the previous call's events and remote picture.
      const reset = () => {
        log.length = 0;
        waiters.clear();
        remote.srcObject = null;
        remote.load();
      };
      window.h = { log, mark, now, remoteVideoReady, when, reset, remote, local };
      await vc.connect();
    },
    { token: who.token, clientOptions },
  );
  return { context, page, errors, who, consoleLines };
}
