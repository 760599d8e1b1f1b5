// Browser helpers: Debian's chromium through npm playwright-core (fake camera, microphone and
// screen), one browser context per person, the web app opened through its own sign-in link
// (`/#token=...`). The server comes from ../signaling/helpers.mjs (a real binary per suite).
//
// The only instrumentation is an init script that keeps a list of the page's
// RTCPeerConnections (`window.__pcs`) so the test can read `getStats()`; the connections
// themselves are the browser's own.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export { startServer, user, api, sleep, freePort } from '../signaling/helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const SCREENSHOTS = join(here, '..', 'artifacts', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

function trackPeerConnections() {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
}

/** Opens the app for `who` in a context of its own; `fragment` adds to the sign-in link. */
export async function openApp(browser, server, who, { fragment = '', viewport = { width: 900, height: 760 } } = {}) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript(trackPeerConnections);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(`${server.url}/#token=${who.token}${fragment}`);
  try {
    await page.getByTestId('who').waitFor({ timeout: 15000 });
  } catch (err) {
    const status = await page.getByTestId('status').textContent().catch(() => '');
    throw new Error(`the app did not sign in ${who.role}: ${status} ${problems.join('; ')}`);
  }
  return { context, page, problems, who };
}

/** Saves `<name>.png` under SCREENSHOTS; `fullPage`: the whole page, not just the window. */
export async function screenshot(page, name, { fullPage = false } = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}

/** Waits until `fn(arg)` is truthy in the page; the message says what was awaited. */
export async function until(page, what, fn, arg, timeout = 20000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (err) {
    throw new Error(`timed out waiting for: ${what} (${err.message.split('\n')[0]})`);
  }
}

/** The first remote video's size and play position. */
export function remoteVideo(page) {
  return page.evaluate(() => {
    const v = document.querySelector('[data-testid=remote-video]');
    return v ? { width: v.videoWidth, height: v.videoHeight, time: v.currentTime, paused: v.paused } : null;
  });
}

/** Inbound RTP bytes by kind over the page's open peer connections. */
export function inboundBytes(page) {
  return page.evaluate(async () => {
    const out = { audio: 0, video: 0 };
    for (const pc of window.__pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) out[s.kind] += s.bytesReceived ?? 0;
      });
    }
    return out;
  });
}

/** Polls `check` (true, or a text saying what is missing) until it holds or `timeout` passes. */
export async function eventually(what, check, { timeout = 20000, every = 250 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const r = await check();
    if (r === true) return;
    if (Date.now() > end) throw new Error(`${what}: ${r}`);
    await new Promise((res) => setTimeout(res, every));
  }
}

/** Asserts that the remote video shows moving frames: a size, and currentTime advancing
 * (seen to advance, however slowly a loaded machine lets it). */
export async function expectMovingVideo(page, label) {
  await until(page, `${label}: remote video has frames`, () => {
    const v = document.querySelector('[data-testid=remote-video]');
    return v && v.videoWidth > 0 && v.currentTime > 0;
  });
  const a = await remoteVideo(page);
  let b = a;
  await eventually(`${label}: remote video is not moving`, async () => {
    b = await remoteVideo(page);
    return (b.width > 0 && b.time > a.time) || JSON.stringify({ a, b });
  });
  return b;
}

/** Asserts that inbound RTP bytes of `kind` grow on `page`; returns the growth seen. */
export async function expectInboundGrowing(page, kind, label) {
  const a = await inboundBytes(page);
  let b = a;
  await eventually(`${label}: inbound ${kind} bytes did not grow`, async () => {
    b = await inboundBytes(page);
    return b[kind] > a[kind] || JSON.stringify({ a, b });
  });
  return b[kind] - a[kind];
}

/**
 * Asserts that inbound video has stopped on `page` while audio goes on: over one window of
 * `windowMs` not a video byte arrives and audio bytes do. Packets already on the way when the
 * sender stopped may still land, so windows are tried until one is quiet.
 */
export async function expectVideoStoppedAudioFlowing(page, label, windowMs = 1000) {
  let last = await inboundBytes(page);
  await eventually(`${label}: video did not stop while audio flows`, async () => {
    await new Promise((res) => setTimeout(res, windowMs));
    const now = await inboundBytes(page);
    const quiet = now.video === last.video && now.audio > last.audio;
    const seen = `video +${now.video - last.video}, audio +${now.audio - last.audio} bytes in ${windowMs} ms`;
    last = now;
    return quiet || seen;
  });
}

/** The label and kind of the track each video sender carries. */
export function videoSenders(page) {
  return page.evaluate(() =>
    (window.__pcs ?? [])
      .filter((pc) => pc.connectionState !== 'closed')
      .flatMap((pc) => pc.getTransceivers())
      .filter((t) => t.receiver.track?.kind === 'video')
      .map((t) => ({ label: t.sender.track?.label ?? null, surface: t.sender.track?.getSettings?.().displaySurface ?? null })),
  );
}

export const statusText = (page) => page.getByTestId('status').textContent();

/** Visible controls without an accessible name (label, aria-label, aria-labelledby or text). */
export function unlabelledControls(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('button, input, textarea, select, video')]
      .filter((el) => el.offsetParent !== null || el.getClientRects().length > 0)
      .filter((el) => {
        if (el.getAttribute('aria-label')?.trim()) return false;
        if (el.getAttribute('aria-labelledby')) return false;
        if (el.labels?.length) return false;
        if (el.tagName === 'BUTTON' && el.textContent.trim()) return false;
        return true;
      })
      .map((el) => el.dataset.testid ?? el.outerHTML.slice(0, 80)),
  );
}

let axeSource = null;

/** axe-core over the page as it is now: no serious or critical violation (evaluated through
 * the debugging protocol, which the page's CSP does not apply to). */
export async function axeCheck(page, label) {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(`${axeSource}\n;void 0`);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${label}: axe-core found serious or critical violations`);
}

/** Peer connections of the page that are not closed. */
export function openPeerConnections(page) {
  return page.evaluate(() => (window.__pcs ?? []).filter((pc) => pc.connectionState !== 'closed').length);
}
