// The waiting room in the web app (docs/signaling.md, "Waiting room"; docs/web-app.md), through
// its own buttons, each person in a browser context of their own: the provider opens a visit
// with a waiting room (nothing rings); the patient, on a phone, opens it early and waits (their
// place, whether the provider is there, a device check of camera, microphone and connection
// that reaches the provider); the provider sees them by name with a running wait time and the
// check, sends "Running late", which the patient reads, and admits them: both see and hear
// each other. The provider then sends the patient back: the patient waits again with no
// connection left, and is admitted again from the call screen, with media flowing again. A
// patient who leaves the waiting room leaves the provider's queue.
// Every wait has a generous deadline: the CI machine is a busy 2-core box.
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
  axeCheck,
  openPeerConnections,
  statusText,
  unlabelledControls,
} from './helpers.mjs';

const LONG = 60000;
const testid = (page, id, attrs = {}) => page.locator(`[data-testid="${id}"]${Object.entries(attrs).map(([k, v]) => `[data-${k}="${v}"]`).join('')}`);
const textOf = (page, selector) => page.evaluate((s) => document.querySelector(s)?.textContent ?? '', selector);

describe('the waiting room in the web app', () => {
  let server, browser, provider, patient, P, Q, callId;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    provider = user('provider', { name: 'Dr. Ruth Okafor' });
    patient = user('patient', { name: 'Sam Rivera' });
    P = await openApp(browser, server, provider, { fragment: `&patient=${patient.id}`, viewport: { width: 1280, height: 800 } });
    Q = await openApp(browser, server, patient, { viewport: { width: 390, height: 844 } }); // a phone
  });
  after(async () => {
    for (const s of [P, Q]) if (s?.problems.length) console.log(`page problems (${s.who.role}):`, s.problems);
    await browser?.close();
    await server?.stop();
  });

  it('the provider opens a visit with a waiting room: nothing rings', async () => {
    await P.page.getByTestId('patient-id').waitFor();
    await P.page.getByTestId('waiting-room-choice').check();
    assert.match(await P.page.getByTestId('start-call').textContent(), /^Open/);
    await P.page.getByTestId('start-call').click();
    await until(P.page, 'the visit is open', () => /waiting room until you admit them/.test(document.querySelector('[data-testid=status]')?.textContent ?? ''), undefined, LONG);
    const list = await api(server, provider, 'GET', '/calls');
    assert.equal(list.status, 200);
    const call = list.body.calls.find((c) => c.patientId === patient.id);
    assert.ok(call, 'the visit exists');
    assert.equal(call.waitingRoom, true);
    assert.equal(call.status, 'scheduled', 'a visit with a waiting room does not ring');
    callId = call.id;
    assert.equal(await P.page.getByTestId('call-view').isHidden(), true, 'the provider stays on the home screen');
    assert.equal(await Q.page.getByTestId('incoming-call').isHidden(), true, 'nothing rings for the patient');
  });

  it('the patient opens the visit early and waits: their place, no provider yet, a device check', async () => {
    const joinButton = Q.page.locator(`[data-testid=call-row][data-call-id="${callId}"] [data-testid=join-call]`);
    // The patient's list shows the visit (the list refreshes by itself; the button is quicker).
    for (const end = Date.now() + LONG; !(await joinButton.isVisible()); ) {
      assert.ok(Date.now() < end, 'the visit appears in the patient’s list');
      await Q.page.getByTestId('refresh-calls').click();
      await Q.page.waitForTimeout(500);
    }
    assert.match(await joinButton.getAttribute('aria-label'), /^Join the waiting room of your video visit with Dr\. Ruth Okafor/);
    await joinButton.click();
    await Q.page.getByTestId('waiting-room').waitFor({ state: 'visible', timeout: LONG });
    assert.equal(await Q.page.getByTestId('call-view').isHidden(), true, 'not in the call');
    await until(Q.page, 'the patient is told their place', () => /You are next in line/.test(document.querySelector('[data-testid=waiting-place]')?.textContent ?? ''), undefined, LONG);
    await until(Q.page, 'the patient is told they are in the waiting room', () => /You are in the waiting room/.test(document.querySelector('[data-testid=status]')?.textContent ?? ''), undefined, LONG);
    assert.equal(await testid(Q.page, 'waiting-provider').getAttribute('data-present'), 'false');
    assert.match(await Q.page.getByTestId('waiting-provider').textContent(), /Dr\. Ruth Okafor has not joined yet/);
    // The pre-call check: the camera gives pictures, the microphone hears the fake device's
    // beeps, the connection answers; nothing tested is left "checking".
    await testid(Q.page, 'check-camera', { result: 'ok' }).waitFor({ timeout: LONG });
    await testid(Q.page, 'check-network', { result: 'ok' }).waitFor({ timeout: LONG });
    await testid(Q.page, 'check-microphone', { result: 'ok' }).waitFor({ timeout: LONG });
    await until(Q.page, 'the camera preview has frames', () => document.querySelector('[data-testid=waiting-preview]')?.videoWidth > 0, undefined, LONG);
    assert.equal(await openPeerConnections(Q.page), 0, 'no connection is made while waiting');
    // Plain words only: no wire codes on the patient's screen.
    const text = await textOf(Q.page, '[data-testid=waiting-room]');
    assert.doesNotMatch(text, /providerPresent|not-admitted|waiting-room|device-check|\bok\b|unavailable|[0-9a-f]{8}-[0-9a-f]{4}-/);
    assert.deepEqual(await unlabelledControls(Q.page), [], 'every control of the waiting room is labelled');
    await axeCheck(Q.page, 'patient waiting room');
    await screenshot(Q.page, 'waiting-room-01-patient-waiting');
    await screenshot(Q.page, 'waiting-room-01-patient-waiting-full', { fullPage: true });
  });

  it('the provider sees who waits, for how long and how their check went, and messages them', async () => {
    const person = testid(P.page, 'waiting-person', { 'user-id': patient.id });
    await person.waitFor({ state: 'visible', timeout: LONG });
    assert.equal(await person.getByTestId('waiting-name').textContent(), 'Sam Rivera');
    assert.equal(await P.page.getByTestId('call-view').isHidden(), true, 'seen from the home screen');
    // The wait time runs.
    const first = await person.getByTestId('waiting-since').textContent();
    assert.match(first, /^Waiting \d+ (second|minute)/);
    await until(P.page, 'the wait time to update', ([id, was]) => {
      const now = document.querySelector(`[data-testid=waiting-person][data-user-id="${id}"] [data-testid=waiting-since]`)?.textContent;
      return now && now !== was;
    }, [patient.id, first], LONG);
    // The patient's device check, in words.
    await until(P.page, 'the device check to arrive', (id) => document.querySelector(`[data-testid=waiting-person][data-user-id="${id}"]`)?.dataset.checked === 'true', patient.id, LONG);
    const check = await person.getByTestId('waiting-check').textContent();
    assert.match(check, /camera works/i);
    assert.match(check, /microphone works/);
    assert.match(check, /good connection \(\d+ ms\)/);
    assert.match(await person.getByTestId('admit').getAttribute('aria-label'), /Admit Sam Rivera/);
    assert.deepEqual(await unlabelledControls(P.page), [], 'every control of the provider’s home is labelled');
    await axeCheck(P.page, 'provider waiting-room queue');
    await screenshot(P.page, 'waiting-room-02-provider-queue');

    // A message to the waiting room, by keyboard as well as by mouse.
    await P.page.getByTestId('message-waiting-room').click();
    assert.equal(await P.page.getByTestId('message-waiting-room').getAttribute('aria-expanded'), 'true');
    await P.page.getByTestId('waiting-message-input').fill('Running late');
    await P.page.getByTestId('waiting-message-input').press('Enter');
    await until(P.page, 'the message was sent', () => /message was sent/.test(document.querySelector('[data-testid=status]')?.textContent ?? ''), undefined, LONG);
    await until(Q.page, 'the patient reads the message', () => [...document.querySelectorAll('[data-testid=waiting-message]')].some((m) => /Running late/.test(m.textContent)), undefined, LONG);
    await until(Q.page, 'the message is announced', () => /Message from Dr\. Ruth Okafor: Running late/.test(document.querySelector('[data-testid=status]')?.textContent ?? ''), undefined, LONG);
    await screenshot(Q.page, 'waiting-room-03-patient-message');
  });

  it('admitted, the patient goes straight into the call; both see and hear each other', async () => {
    await testid(P.page, 'waiting-person', { 'user-id': patient.id }).getByTestId('admit').click();
    await P.page.getByTestId('call-view').waitFor({ state: 'visible', timeout: LONG });
    await Q.page.getByTestId('call-view').waitFor({ state: 'visible', timeout: LONG });
    assert.equal(await Q.page.getByTestId('waiting-room').isHidden(), true);
    await expectMovingVideo(Q.page, 'patient sees the provider');
    await expectMovingVideo(P.page, 'provider sees the patient');
    for (const [page, who] of [
      [P.page, 'provider'],
      [Q.page, 'patient'],
    ]) {
      await expectInboundGrowing(page, 'video', who);
      await expectInboundGrowing(page, 'audio', who);
    }
    const details = await api(server, provider, 'GET', `/calls/${callId}`);
    assert.equal(details.body.status, 'active', 'the admission started the visit');
    await until(P.page, 'the provider is connected', () => document.querySelector('[data-testid=call-view]')?.dataset.phase === 'connected', undefined, LONG);
    await screenshot(P.page, 'waiting-room-04-provider-in-call');
  });

  it('sent back, the patient waits again; admitted again from the call screen, media flows again', async () => {
    const sendBack = testid(P.page, 'send-back', { 'user-id': patient.id });
    assert.match(await sendBack.getAttribute('aria-label'), /Send Sam Rivera back to the waiting room/);
    await sendBack.click();
    await Q.page.getByTestId('waiting-room').waitFor({ state: 'visible', timeout: LONG });
    assert.equal(await Q.page.getByTestId('call-view').isHidden(), true);
    await until(Q.page, 'the provider is there', () => document.querySelector('[data-testid=waiting-provider]')?.dataset.present === 'true', undefined, LONG);
    assert.match(await statusText(Q.page), /moved you back to the waiting room/);
    await until(Q.page, 'the patient’s connections are closed', () => (window.__pcs ?? []).every((pc) => pc.connectionState === 'closed'), undefined, LONG);
    await screenshot(Q.page, 'waiting-room-05-patient-sent-back');

    // The provider, still in the call, sees them waiting there and admits them again.
    const inCallQueue = P.page.locator(`[data-testid=call-view] [data-testid=waiting-person][data-user-id="${patient.id}"]`);
    await inCallQueue.waitFor({ state: 'visible', timeout: LONG });
    await until(P.page, 'the patient’s tile is gone', (id) => !document.querySelector(`[data-testid=remote-tile][data-user-id="${id}"]`), patient.id, LONG);
    await axeCheck(P.page, 'provider in the call with someone waiting');
    await screenshot(P.page, 'waiting-room-06-provider-call-queue');
    await inCallQueue.getByTestId('admit').click();
    await Q.page.getByTestId('call-view').waitFor({ state: 'visible', timeout: LONG });
    await expectMovingVideo(Q.page, 'patient sees the provider again');
    await expectMovingVideo(P.page, 'provider sees the patient again');
    for (const [page, who] of [
      [P.page, 'provider'],
      [Q.page, 'patient'],
    ]) {
      await expectInboundGrowing(page, 'video', `${who} again`);
      await expectInboundGrowing(page, 'audio', `${who} again`);
    }
    await until(Q.page, 'the patient sees their own camera', () => document.querySelector('[data-testid=local-video]')?.videoWidth > 0, undefined, LONG);

    await P.page.getByTestId('end-call').click();
    await P.page.getByTestId('visit-ended').waitFor({ state: 'visible', timeout: LONG });
    await Q.page.getByTestId('visit-ended').waitFor({ state: 'visible', timeout: LONG });
  });

  it('a patient who leaves the waiting room leaves the provider’s queue and is told so', async () => {
    assert.equal(await P.page.getByTestId('waiting-room-choice').isChecked(), true, 'the choice is kept for the next visit');
    await P.page.getByTestId('start-call').click();
    let next;
    await until(P.page, 'the second visit is open', () => /waiting room until you admit them/.test(document.querySelector('[data-testid=status]')?.textContent ?? ''), undefined, LONG);
    for (const end = Date.now() + LONG; !next; ) {
      const calls = (await api(server, provider, 'GET', '/calls')).body.calls;
      next = calls.find((c) => c.id !== callId && c.status === 'scheduled');
      assert.ok(next || Date.now() < end, 'the second visit exists');
      if (!next) await new Promise((r) => setTimeout(r, 300));
    }
    const joinButton = Q.page.locator(`[data-testid=call-row][data-call-id="${next.id}"] [data-testid=join-call]`);
    for (const end = Date.now() + LONG; !(await joinButton.isVisible()); ) {
      assert.ok(Date.now() < end, 'the second visit appears in the patient’s list');
      await Q.page.getByTestId('refresh-calls').click();
      await Q.page.waitForTimeout(500);
    }
    await joinButton.click();
    await Q.page.getByTestId('waiting-room').waitFor({ state: 'visible', timeout: LONG });
    await testid(P.page, 'waiting-person', { 'call-id': next.id, 'user-id': patient.id }).waitFor({ state: 'visible', timeout: LONG });
    await Q.page.getByTestId('leave-waiting-room').click();
    await Q.page.getByTestId('visit-ended').waitFor({ state: 'visible', timeout: LONG });
    assert.equal(await Q.page.getByTestId('visit-ended-heading').textContent(), 'You left the waiting room');
    await until(Q.page, 'the camera is released', () => !document.querySelector('[data-testid=waiting-preview]')?.srcObject, undefined, LONG);
    await P.page.locator('[data-testid=home] [data-testid=waiting-queue]').waitFor({ state: 'hidden', timeout: LONG });
  });
});
