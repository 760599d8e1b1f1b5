// A provider and a patient hold a real video call through the web app's own buttons, each in
// a browser context of their own (Debian's chromium, fake camera/microphone/screen).
// The steps share one call and run in order; screenshots go to e2e/artifacts/screenshots/.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  user,
  api,
  launchBrowser,
  openApp,
  screenshot,
  until,
  expectMovingVideo,
  expectInboundGrowing,
  expectVideoStoppedAudioFlowing,
  videoSenders,
  statusText,
  unlabelledControls,
} from './helpers.mjs';

const remoteTile = (page, attr, value) =>
  until(page, `remote tile ${attr}=${value}`, ([a, v]) => document.querySelector('[data-testid=remote-tile]')?.dataset[a] === v, [attr, value]);

describe('a video call in the web app', () => {
  let server, browser, provider, patient, P, Q, callId;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    provider = user('provider');
    patient = user('patient');
  });
  after(async () => {
    for (const s of [P, Q]) if (s?.problems.length) console.log(`page problems (${s.who.role}):`, s.problems);
    await browser?.close();
    await server?.stop();
  });

  it('shows the provider a prefilled start form and the patient a waiting screen', async () => {
    P = await openApp(browser, server, provider, { fragment: `&patient=${patient.id}` });
    Q = await openApp(browser, server, patient, { viewport: { width: 390, height: 844 } }); // a phone
    assert.equal(await P.page.getByTestId('patient-id').inputValue(), patient.id);
    assert.match(await P.page.getByTestId('who').textContent(), /provider/);
    await Q.page.getByTestId('patient-waiting').waitFor();
    // The token left the address bar; it sits in this tab's sessionStorage only.
    assert.equal(new URL(P.page.url()).hash, '');
    assert.equal(await P.page.evaluate(() => sessionStorage.getItem('vytalcall.token')), provider.token);
    assert.deepEqual(await unlabelledControls(P.page), [], 'every control of the provider home is labelled');
    assert.deepEqual(await unlabelledControls(Q.page), [], 'every control of the patient home is labelled');
    await screenshot(P.page, '01-provider-home');
    await screenshot(Q.page, '02-patient-home-phone');
  });

  it('rejects a malformed patient id with a labelled field error', async () => {
    const field = P.page.getByTestId('patient-id');
    await field.fill('not-an-id');
    await P.page.getByTestId('start-call').click();
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    assert.match(await P.page.getByTestId('problem').textContent(), /not a valid id/);
    await field.fill(patient.id);
  });

  it('rings the patient, who accepts; both see and hear each other', async (t) => {
    const started = Date.now();
    await P.page.getByTestId('start-call').click();
    await Q.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
    const rang = Date.now();
    assert.match(await Q.page.getByTestId('incoming-text').textContent(), /video call/);
    await screenshot(Q.page, '03-patient-incoming-call');
    const accepted = Date.now();
    await Q.page.getByTestId('accept-call').click();
    const frames = () => document.querySelector('[data-testid=remote-video]')?.videoWidth > 0;
    await Promise.all([until(P.page, 'provider frames', frames), until(Q.page, 'patient frames', frames)]);
    t.diagnostic(`ring ${rang - started} ms; accept -> both remote videos ${Date.now() - accepted} ms`);
    await P.page.getByTestId('call-view').waitFor({ state: 'visible' });
    await Q.page.getByTestId('call-view').waitFor({ state: 'visible' });
    const onPatient = await expectMovingVideo(Q.page, 'patient sees provider');
    const onProvider = await expectMovingVideo(P.page, 'provider sees patient');
    assert.ok(onPatient.width > 0 && onProvider.width > 0);
    await expectInboundGrowing(P.page, 'video', 'provider receives video');
    await expectInboundGrowing(Q.page, 'video', 'patient receives video');
    await expectInboundGrowing(P.page, 'audio', 'provider receives audio');
    await expectInboundGrowing(Q.page, 'audio', 'patient receives audio');
    const calls = await api(server, provider, 'GET', '/calls');
    callId = calls.body.calls[0].id;
    assert.equal(calls.body.calls[0].status, 'active');
    assert.deepEqual(await unlabelledControls(P.page), [], 'every in-call control is labelled');
    await screenshot(P.page, '04-provider-in-call');
    await screenshot(Q.page, '05-patient-in-call-phone');
  });

  it('mute and camera off reach the other side, and back', async () => {
    await P.page.getByTestId('toggle-mute').click();
    assert.equal(await P.page.getByTestId('toggle-mute').getAttribute('aria-pressed'), 'true');
    await remoteTile(Q.page, 'audio', 'off');
    await P.page.getByTestId('toggle-camera').click();
    await remoteTile(Q.page, 'video', 'off');
    assert.match(await Q.page.getByTestId('remote-media-state').textContent(), /microphone off, camera off/);
    await screenshot(Q.page, '06-patient-sees-provider-muted');
    await P.page.getByTestId('toggle-mute').click();
    await P.page.getByTestId('toggle-camera').click();
    await remoteTile(Q.page, 'audio', 'on');
    await remoteTile(Q.page, 'video', 'on');
    await expectMovingVideo(Q.page, 'provider camera back');
  });

  it('screen share replaces the camera for the other side, and back', async () => {
    const before = await videoSenders(P.page);
    await P.page.getByTestId('toggle-screen').click();
    await remoteTile(Q.page, 'screen', 'on');
    const during = await videoSenders(P.page);
    assert.notEqual(during[0].label, before[0].label, 'the video sender carries another track');
    await expectMovingVideo(Q.page, 'patient sees the shared screen');
    await expectInboundGrowing(Q.page, 'video', 'shared screen flows');
    await screenshot(Q.page, '07-patient-sees-screen-share');
    await P.page.getByTestId('toggle-screen').click();
    await remoteTile(Q.page, 'screen', 'off');
    assert.equal((await videoSenders(P.page))[0].label, before[0].label, 'back to the camera');
  });

  it("the patient's page is reloaded mid-call: it rejoins and media resumes both ways", async () => {
    await Q.page.reload();
    await Q.page.getByTestId('call-view').waitFor({ state: 'visible', timeout: 20000 });
    await expectMovingVideo(Q.page, 'reloaded patient sees provider');
    await expectMovingVideo(P.page, 'provider sees reloaded patient');
    await expectInboundGrowing(P.page, 'video', 'provider receives video after reload');
    await expectInboundGrowing(Q.page, 'video', 'patient receives video after reload');
    await until(P.page, 'provider told the patient is back', () => /is back/.test(document.querySelector('[data-testid=status]')?.textContent ?? ''));
    const call = await api(server, provider, 'GET', `/calls/${callId}`);
    assert.equal(call.body.status, 'active', 'the call survived the reload');
    // By now (well over the 10 s report period) the provider's quality indicator has a level.
    await until(P.page, 'quality indicator has a level', () => ['good', 'fair', 'poor'].includes(document.querySelector('[data-testid=quality]')?.dataset.level));
    assert.match(await P.page.getByTestId('quality').textContent(), /^Connection: (good|fair|poor)$/);
  });

  it('the patient switches to audio only: video stops, audio keeps flowing', async () => {
    await Q.page.getByTestId('audio-only').click();
    await remoteTile(P.page, 'video', 'off');
    assert.equal(await Q.page.getByTestId('toggle-camera').isHidden(), true, 'no camera button once the camera is gone');
    assert.ok((await videoSenders(Q.page)).every((s) => s.label === null), 'no video is sent');
    await expectInboundGrowing(P.page, 'audio', 'provider still hears the patient');
    await expectVideoStoppedAudioFlowing(P.page, 'provider after the patient went audio-only');
    await screenshot(P.page, '08-provider-patient-audio-only');
  });

  it('ending the call ends it for both, and the history shows it', async () => {
    await P.page.getByTestId('end-call').click();
    for (const page of [P.page, Q.page]) {
      await page.getByTestId('home').waitFor({ state: 'visible' });
      await until(page, 'call ended message', () => /Call ended/.test(document.querySelector('[data-testid=status]')?.textContent ?? ''));
      assert.equal(await page.getByTestId('call-view').isHidden(), true);
    }
    await until(P.page, 'history row ended', (id) => document.querySelector(`[data-testid=call-row][data-call-id="${id}"]`)?.dataset.status === 'ended', callId);
    const call = await api(server, patient, 'GET', `/calls/${callId}`);
    assert.equal(call.body.status, 'ended');
    await screenshot(P.page, '09-provider-call-history');
    // Camera and microphone are released.
    assert.equal(await P.page.evaluate(() => document.querySelector('[data-testid=local-video]').srcObject), null);
  });
});
