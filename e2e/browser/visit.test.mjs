// Every screen of a visit, as a clinic shows it to its patients, at 1280×800 and on a 390×844
// phone: the sign-in page, both homes, calling and ringing, hanging up while it rings, a
// decline, a refused camera (sound only) and refused media (retry), the consent question and
// each answer reaching the provider, the device menu, screen sharing, the end of the visit.
// Each screen is checked by axe-core (no serious or critical violation) and saved as a
// screenshot under e2e/artifacts/screenshots/ (listed in docs/web-app.md).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { startServer, user, api, launchBrowser, openApp, screenshot, until, expectMovingVideo, expectInboundGrowing } from './helpers.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const SIZES = [
  { name: 'desktop', viewport: { width: 1280, height: 800 }, phone: false },
  { name: 'phone', viewport: { width: 390, height: 844 }, phone: true },
];

/** axe-core over the page as it is now: no serious or critical violation. */
export async function axeCheck(page, label) {
  // Evaluated through the debugging protocol, which the page's CSP does not apply to.
  await page.evaluate(`${AXE}\n;void 0`);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${label}: axe-core found serious or critical violations`);
}

/** A screen: checked by axe-core and saved as `<size>-<name>.png`. */
async function screen(page, size, name) {
  await axeCheck(page, `${size.name} ${name}`);
  await screenshot(page, `${size.name}-${name}`);
}

/** Like openApp, but as a phone would open it (touch, mobile user agent) at phone size. */
async function openAs(browser, server, who, size, fragment = '') {
  if (!size.phone) return openApp(browser, server, who, { fragment, viewport: size.viewport });
  const context = await browser.newContext({
    viewport: size.viewport,
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 1,
    userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36',
  });
  // As openApp: the page's RTCPeerConnections are listed for getStats().
  await context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.__pcs = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        window.__pcs.push(this);
      }
    };
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(`${server.url}/#token=${who.token}${fragment}`);
  await page.getByTestId('who').waitFor({ timeout: 15000 });
  return { context, page, problems, who };
}

const text = (page, testid) => page.getByTestId(testid).textContent();
const textMatches = (page, testid, re) =>
  until(page, `${testid} matching ${re}`, ([t, src]) => new RegExp(src).test(document.querySelector(`[data-testid=${t}]`)?.textContent ?? ''), [testid, re.source]);
const activeTestid = (page) => page.evaluate(() => document.activeElement?.dataset?.testid ?? document.activeElement?.id ?? document.activeElement?.tagName);

/** Camera refused (`video`), or camera and microphone refused (`all`), or nothing (`none`). */
function refuseMedia(page, what) {
  return page.evaluate((w) => {
    const md = navigator.mediaDevices;
    window.__gum ??= md.getUserMedia.bind(md);
    md.getUserMedia = (c) =>
      w === 'all' || (w === 'video' && c.video) ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError')) : window.__gum(c);
  }, what);
}

/** The box of an element, and whether all of it is inside the viewport. */
async function box(page, testid) {
  const b = await page.getByTestId(testid).boundingBox();
  const vp = page.viewportSize();
  return { ...b, inside: b && b.x >= 0 && b.y >= 0 && b.x + b.width <= vp.width + 0.5 && b.y + b.height <= vp.height + 0.5 };
}

for (const size of SIZES) {
  describe(`a visit, every screen, ${size.name} (${size.viewport.width}×${size.viewport.height})`, () => {
    let server, browser, provider, patient, P, Q;
    const callIds = [];
    const latestCall = async () => (await api(server, provider, 'GET', '/calls?limit=1')).body.calls[0];

    before(async () => {
      server = await startServer({ CLINIC_NAME: 'Riverside Clinic', RECORDING_RETENTION_DAYS: '30' });
      browser = await launchBrowser();
      // Named as the platform's tokens name people: the app shows these names, never ids.
      provider = user('provider', { name: 'Dr. Rivera' });
      patient = user('patient', { name: 'Sam Patel' });
    });
    after(async () => {
      for (const s of [P, Q]) if (s?.problems.length) console.log(`page problems (${s.who.role}):`, s.problems);
      await browser?.close();
      await server?.stop();
    });

    it('the sign-in page speaks to patients and names the clinic; an expired link says whom to contact', async () => {
      const context = await browser.newContext({ viewport: size.viewport });
      const page = await context.newPage();
      await page.goto(server.url);
      await page.getByTestId('sign-in').waitFor();
      assert.equal(await text(page, 'clinic-name'), 'Riverside Clinic');
      assert.equal(await page.title(), 'Riverside Clinic');
      const body = await page.locator('body').innerText();
      assert.match(body, /open the link Riverside Clinic sent you/i);
      assert.doesNotMatch(body, /token|server prints|demo link/i, 'no developer hints');
      await screen(page, size, '01-sign-in');
      const stale = user('patient', { ttlSeconds: -120 });
      const expired = await context.newPage();
      await expired.goto(`${server.url}/#token=${stale.token}`);
      await textMatches(expired, 'sign-in-problem', /expired.*Contact Riverside Clinic/);
      await screen(expired, size, '02-sign-in-link-expired');
      await context.close();
    });

    it('both homes name the clinic and the people by name, never by id; no empty column header', async () => {
      P = await openAs(browser, server, provider, size, `&patient=${patient.id}`);
      Q = await openAs(browser, server, patient, size);
      for (const s of [P, Q]) {
        assert.equal(await text(s.page, 'clinic-name'), 'Riverside Clinic');
        assert.equal(await s.page.title(), 'Riverside Clinic');
      }
      await Q.page.getByTestId('patient-waiting').waitFor();
      await screen(P.page, size, '03-provider-home');
      await screen(Q.page, size, '04-patient-home');
    });

    it('while it rings the caller reads that it is calling (no "joined", no connection level), and can hang up', async () => {
      await P.page.getByTestId('start-call').click();
      await textMatches(P.page, 'call-phase', /Calling Sam Patel/);
      assert.doesNotMatch(await text(P.page, 'status'), /joined/);
      assert.equal(await P.page.getByTestId('quality').isHidden(), true, 'no connection level while nobody is connected');
      assert.equal(await P.page.getByTestId('sign-out').isHidden(), true, 'no sign-out in a call');
      assert.match(await P.page.getByTestId('end-call').getAttribute('aria-label'), /Hang up/);
      await screen(P.page, size, '05-provider-calling');

      await Q.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
      callIds.push((await latestCall()).id);
      assert.match(await text(Q.page, 'incoming-text'), /Dr\. Rivera is calling you \(video call\)/);
      const facts = await Q.page.locator('#answer-facts').textContent();
      assert.match(facts, /sound and video/);
      assert.match(facts, /only the providers of this visit/);
      assert.match(facts, /encrypted by Riverside Clinic/);
      assert.match(facts, /after 30 days/);
      assert.match(facts, /change your answer at any time/);
      await screen(Q.page, size, '06-patient-incoming-call');

      // The dialog keeps the focus (WAI-ARIA's modal pattern): Tab and Shift+Tab stay inside.
      for (const key of ['Tab', 'Tab', 'Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
        await Q.page.keyboard.press(key);
        assert.ok(await Q.page.evaluate(() => document.querySelector('[data-testid=incoming-call]').contains(document.activeElement)), `focus left the dialog after ${key}`);
      }

      await P.page.getByTestId('end-call').click();
      await P.page.getByTestId('visit-ended').waitFor({ state: 'visible' });
      assert.equal(await text(P.page, 'visit-ended-heading'), 'Call cancelled');
      assert.equal(await activeTestid(P.page), 'visit-ended-heading', 'the focus moves to what happened');
      assert.equal((await api(server, provider, 'GET', `/calls/${callIds[0]}`)).body.status, 'cancelled');
      await Q.page.getByTestId('incoming-call').waitFor({ state: 'hidden' });
      await textMatches(Q.page, 'status', /hung up before you answered/);
      // The list is fresh at once: nothing to answer.
      await until(Q.page, 'no Answer button left', () => !document.querySelector('[data-testid=join-call]'));
      await screen(P.page, size, '07-provider-hung-up');
    });

    it('a decline (Escape, wherever the focus is) reaches the provider in words; lists refresh', async () => {
      await P.page.getByTestId('start-call').click();
      await Q.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
      const id = (await latestCall()).id;
      await until(Q.page, 'the list offers Answer', () => Boolean(document.querySelector('[data-testid=join-call]')));
      const label = await Q.page.getByTestId('join-call').getAttribute('aria-label');
      assert.match(label, /^Answer the video call from Dr\. Rivera/);
      assert.doesNotMatch(label, /[0-9a-f]{8}/, 'no id in the label');
      if (size.phone) {
        // On a phone the dialog covers the list; the list's button must still fit the screen.
        const b = await Q.page.getByTestId('join-call').boundingBox();
        assert.ok(b.x + b.width <= size.viewport.width, `Answer fits the screen: ${JSON.stringify(b)}`);
      }
      await Q.page.evaluate(() => document.activeElement?.blur());
      await Q.page.keyboard.press('Escape');
      await Q.page.getByTestId('incoming-call').waitFor({ state: 'hidden' });
      await P.page.getByTestId('visit-ended').waitFor({ state: 'visible' });
      assert.equal(await text(P.page, 'visit-ended-reason'), 'Sam Patel declined the call.');
      await until(P.page, 'history says Declined', (cid) => document.querySelector(`[data-testid=call-row][data-call-id="${cid}"] [data-testid=call-status]`)?.textContent === 'Declined', id);
      await until(Q.page, 'the patient list refreshed', (cid) => document.querySelector(`[data-testid=call-row][data-call-id="${cid}"]`)?.dataset.status === 'cancelled', id);
      assert.equal(await Q.page.getByTestId('join-call').count(), 0, 'no Answer on a declined call');
      await screen(P.page, size, '08-provider-call-declined');
      await screen(Q.page, size, '09-patient-after-decline');
    });

    it('a refused camera joins with sound only; the consent answer given on answering reaches the provider', async () => {
      await refuseMedia(Q.page, 'video');
      await P.page.getByTestId('start-call').click();
      await Q.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
      await Q.page.getByTestId('answer-consent-no').check();
      await Q.page.getByTestId('accept-call').click();
      await Q.page.getByTestId('call-view').waitFor({ state: 'visible' });
      await Q.page.getByTestId('camera-lost').waitFor({ state: 'visible' });
      assert.match(await text(Q.page, 'camera-lost'), /did not allow the camera.*sound only/);
      await until(P.page, 'the provider sees the patient’s video off', () => document.querySelector('[data-testid=remote-tile]')?.dataset.video === 'off');
      await expectInboundGrowing(P.page, 'audio', 'the provider hears the patient');
      await textMatches(P.page, 'call-phase', /Connected/);
      // The No given before anything was recorded is shown to the provider at once.
      await textMatches(P.page, 'consent-answers', /Sam Patel: said no to recording/);
      // A call timer that runs.
      await Q.page.getByTestId('call-timer').waitFor({ state: 'visible' });
      const t0 = await text(P.page, 'call-timer');
      await until(P.page, 'the timer advances', (t) => document.querySelector('[data-testid=call-timer]').textContent !== t, t0);
      assert.match(await text(P.page, 'call-timer'), /^\d+:\d\d$/);
      // The call has the screen: video large, End call in reach, no sign-out.
      for (const s of [P, Q]) {
        assert.equal(await s.page.getByTestId('sign-out').isHidden(), true);
        const end = await box(s.page, 'end-call');
        assert.ok(end.inside, `${s.who.role}: End call is on screen ${JSON.stringify(end)}`);
        if (size.phone) assert.ok(end.y > size.viewport.height * 0.7, `${s.who.role}: End call in thumb reach (${end.y})`);
        const stage = await s.page.locator('.stage').boundingBox();
        assert.ok(stage.height > size.viewport.height * 0.45, `${s.who.role}: the video has the screen (${stage.height}px)`);
      }
      if (size.phone) assert.equal(await Q.page.getByTestId('toggle-screen').isHidden(), true, 'no screen sharing on a phone');
      await screen(Q.page, size, '10-patient-in-call-sound-only');
      await screen(P.page, size, '11-provider-in-call');
      callIds.push((await latestCall()).id);
    });

    it('the provider sees each answer live; a No turns the patient’s badge off and the provider is told', async () => {
      await P.page.getByTestId('toggle-recording').click();
      await P.page.getByTestId('record-confirm').waitFor({ state: 'visible' });
      assert.match(await text(P.page, 'record-confirm'), /said no.*only they can change/);
      assert.equal(await P.page.getByTestId('record-verbal').isHidden(), true, 'nobody can attest over the patient’s own no');
      await P.page.getByTestId('record-confirm').getByRole('button', { name: 'Cancel' }).click();
      // The patient changes their mind with the switch in the call.
      assert.equal(await Q.page.getByTestId('consent-switch').getAttribute('aria-checked'), 'false');
      await Q.page.getByTestId('consent-switch').click();
      await until(Q.page, 'the switch is on', () => document.querySelector('[data-testid=consent-switch]').getAttribute('aria-checked') === 'true');
      await textMatches(P.page, 'consent-answers', /Sam Patel: agrees to recording/);
      await P.page.getByTestId('toggle-recording').click();
      await P.page.getByTestId('recording-indicator').waitFor({ state: 'visible' });
      assert.equal(await P.page.getByTestId('record-confirm').isHidden(), true, 'no attestation needed: the patient said yes');
      await Q.page.getByTestId('recording-indicator').waitFor({ state: 'visible' });
      assert.equal(await Q.page.getByTestId('recording-indicator').getAttribute('data-you'), 'recorded');
      assert.equal(await Q.page.getByTestId('consent-dialog').isHidden(), true, 'not asked again');
      for (const s of [P, Q]) assert.ok((await box(s.page, 'end-call')).inside, `${s.who.role}: End call stays on screen while recording`);
      await screen(P.page, size, '12-provider-recording');
      await screen(Q.page, size, '13-patient-recorded');
      // No, during the recording.
      await Q.page.getByTestId('consent-switch').click();
      await until(Q.page, 'the badge says the patient is not recorded', () => document.querySelector('[data-testid=recording-indicator]').dataset.you === 'not-recorded');
      await textMatches(P.page, 'status', /Sam Patel said no to recording: they are not being recorded/);
      await textMatches(P.page, 'consent-answers', /Sam Patel: said no to recording/);
      await screen(Q.page, size, '14-patient-not-recorded');
      await P.page.getByTestId('toggle-recording').click();
      await P.page.getByTestId('recording-indicator').waitFor({ state: 'hidden' });
    });

    it('the device menu lists camera and microphone; a choice keeps the call going; Escape closes it', async () => {
      await P.page.getByTestId('toggle-devices').click();
      await P.page.getByTestId('device-menu').waitFor({ state: 'visible' });
      assert.equal(await P.page.getByTestId('toggle-devices').getAttribute('aria-expanded'), 'true');
      for (const kind of ['camera', 'microphone']) {
        assert.ok((await P.page.getByTestId(`device-${kind}`).locator('option').count()) >= 1, `${kind} choices`);
      }
      await screen(P.page, size, '15-provider-device-menu');
      const camera = await P.page.getByTestId('device-camera').inputValue();
      await P.page.getByTestId('device-camera').selectOption(camera);
      await P.page.getByTestId('device-camera').dispatchEvent('change');
      await textMatches(P.page, 'status', /Camera changed/);
      await expectInboundGrowing(Q.page, 'video', 'the patient still receives the provider’s video');
      await P.page.getByTestId('device-camera').focus();
      await P.page.keyboard.press('Escape');
      await P.page.getByTestId('device-menu').waitFor({ state: 'hidden' });
      assert.equal(await activeTestid(P.page), 'toggle-devices', 'focus back on the Devices button');
    });

    if (!size.phone) {
      it('the sharer is told that their screen is shared', async () => {
        await P.page.getByTestId('toggle-screen').click();
        await P.page.getByTestId('sharing-notice').waitFor({ state: 'visible' });
        assert.match(await text(P.page, 'sharing-notice'), /You are sharing your screen/);
        await screen(P.page, size, '16-provider-sharing-screen');
        await P.page.getByTestId('sharing-notice').getByRole('button', { name: 'Stop sharing' }).click();
        await P.page.getByTestId('sharing-notice').waitFor({ state: 'hidden' });
      });
    }

    it('the end of the visit: who ended it, how long it lasted, that the page may close; focus kept', async () => {
      await P.page.getByTestId('end-call').click();
      for (const s of [P, Q]) {
        await s.page.getByTestId('visit-ended').waitFor({ state: 'visible' });
        assert.equal(await text(s.page, 'visit-ended-heading'), 'Your visit has ended');
        assert.match(await text(s.page, 'visit-length'), /^Length: \d+:\d\d \(/);
        assert.equal(await activeTestid(s.page), 'visit-ended-heading');
        assert.equal(await s.page.getByTestId('sign-out').isVisible(), true);
      }
      assert.equal(await text(P.page, 'visit-ended-reason'), 'You ended the call.');
      assert.equal(await text(Q.page, 'visit-ended-reason'), 'Dr. Rivera ended the call.');
      assert.match(await Q.page.getByTestId('visit-ended').textContent(), /You can close this page/);
      await screen(P.page, size, '17-provider-visit-ended');
      await screen(Q.page, size, '18-patient-visit-ended');
    });

    it('refused media is not a dead end: the call keeps ringing, Try again joins; an audio call shows no empty video box', async () => {
      await refuseMedia(Q.page, 'all');
      await P.page.getByTestId('type-audio').check();
      await P.page.getByTestId('start-call').click();
      await Q.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
      await Q.page.getByTestId('accept-call').click();
      await Q.page.getByTestId('media-problem').waitFor({ state: 'visible' });
      assert.match(await text(Q.page, 'media-problem-text'), /did not allow the microphone/);
      assert.equal((await latestCall()).status, 'ringing', 'the call still rings');
      await screen(Q.page, size, '19-patient-media-refused');
      await refuseMedia(Q.page, 'none');
      await Q.page.getByTestId('media-retry').click();
      await Q.page.getByTestId('call-view').waitFor({ state: 'visible' });
      await until(P.page, 'connected', () => document.querySelector('[data-testid=call-view]')?.dataset.phase === 'connected');
      await expectInboundGrowing(P.page, 'audio', 'the provider hears the patient');
      for (const s of [P, Q]) {
        assert.equal(await s.page.getByTestId('local-video').isHidden(), true, 'no own video box in an audio call');
        assert.equal(await s.page.getByTestId('toggle-camera').isHidden(), true);
        await until(s.page, 'the other side is shown', () => Boolean(document.querySelector('[data-testid=remote-tile]')));
        const shown = await s.page.locator('[data-testid=remote-tile] .camera-off').innerText();
        assert.doesNotMatch(shown, /Camera off/);
        assert.match(shown, /Sound only/);
      }
      await screen(Q.page, size, '20-patient-audio-call');
      await P.page.getByTestId('end-call').click();
      await Q.page.getByTestId('visit-ended').waitFor({ state: 'visible' });
    });
  });
}

describe('an expired session in the web app', () => {
  let server, browser;
  before(async () => {
    server = await startServer({ CLINIC_NAME: 'Riverside Clinic' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('says so once, in words, and stops asking the server with the dead token', async () => {
    const patient = user('patient', { ttlSeconds: 10 });
    const S = await openApp(browser, server, patient); // signed in: the name is shown
    await until(S.page, 'the session-ended message', () => /session has ended/.test(document.querySelector('[data-testid=sign-in-problem]')?.textContent ?? ''), undefined, 30000);
    const asked = [];
    S.page.on('request', (r) => {
      if (r.url().includes('/webrtc/')) asked.push(r.url());
    });
    await S.page.waitForTimeout(16500); // longer than the list's 15 s refresh
    assert.deepEqual(asked, [], 'no request with the expired token');
    assert.match(await S.page.getByTestId('sign-in-problem').textContent(), /Contact|contact them/);
    assert.doesNotMatch(await S.page.locator('body').innerText(), /401|HTTP|token/i);
    await screenshot(S.page, 'desktop-21-session-ended');
    await S.context.close();
  });
});
