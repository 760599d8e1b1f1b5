// Ringing and consent in the web app: an incoming call rings on every open device of the
// patient and stops on the others when one answers; declining ends the call for the
// provider; a recording asks the patient for consent when theirs is not on record.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, user, api, launchBrowser, openApp, screenshot, until, statusText } from './helpers.mjs';

const statusMatches = (page, re) =>
  until(page, `status matching ${re}`, (src) => new RegExp(src).test(document.querySelector('[data-testid=status]')?.textContent ?? ''), re.source);

describe('ringing, declining and recording consent in the web app', () => {
  let server, browser, provider, patient, P, A, B;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    provider = user('provider');
    patient = user('patient');
    P = await openApp(browser, server, provider, { fragment: `&patient=${patient.id}` });
    A = await openApp(browser, server, patient); // the patient's laptop
    B = await openApp(browser, server, patient, { viewport: { width: 390, height: 844 } }); // and phone
  });
  after(async () => {
    for (const s of [P, A, B]) if (s?.problems.length) console.log(`page problems (${s.who.role}):`, s.problems);
    await browser?.close();
    await server?.stop();
  });

  it('a call rings on both of the patient’s devices and stops on the other when one answers', async () => {
    await P.page.getByTestId('start-call').click();
    await A.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
    await B.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
    assert.equal(await B.page.getByTestId('incoming-call').getAttribute('role'), 'alertdialog');
    // The Accept button has the focus, so the keyboard answers with Enter.
    assert.equal(await B.page.evaluate(() => document.activeElement?.dataset.testid), 'accept-call');
    assert.equal(await A.page.evaluate(() => document.activeElement?.dataset.testid), 'accept-call');
    await A.page.keyboard.press('Enter');
    await B.page.getByTestId('incoming-call').waitFor({ state: 'hidden' });
    await statusMatches(B.page, /answered on another device/);
    assert.equal(await B.page.getByTestId('call-view').isHidden(), true, 'the other device does not join');
    await A.page.getByTestId('call-view').waitFor({ state: 'visible' });
    await P.page.getByTestId('call-view').waitFor({ state: 'visible' });
  });

  it('a provider records with consent; the patient is asked and their own answer counts', async () => {
    await P.page.getByTestId('toggle-recording').click();
    // The patient has not agreed in the app: the provider is told, and may attest a spoken yes.
    await P.page.getByTestId('record-confirm').waitFor({ state: 'visible' });
    await P.page.getByTestId('record-verbal').click();
    await P.page.getByTestId('recording-indicator').waitFor({ state: 'visible' });
    await A.page.getByTestId('recording-indicator').waitFor({ state: 'visible' });
    await screenshot(P.page, '10-provider-recording');
    // The patient is asked in the app all the same, and says no: that withdraws the attested yes.
    await A.page.getByTestId('consent-dialog').waitFor({ state: 'visible' });
    assert.match(await A.page.getByTestId('consent-question').textContent(), /recording this call/);
    await screenshot(A.page, '11-patient-consent-question');
    await A.page.getByTestId('consent-no').click();
    await A.page.getByTestId('consent-dialog').waitFor({ state: 'hidden' });
    await statusMatches(A.page, /declined recording/);
    const callId = (await api(server, provider, 'GET', '/calls?status=active')).body.calls[0].id;
    const rid = await P.page.getByTestId('recording-indicator').getAttribute('data-recording-id');
    const rec = await api(server, provider, 'GET', `/calls/${callId}/recordings/${rid}`);
    assert.equal(rec.status, 200, JSON.stringify(rec.body));
    const mine = rec.body.consents.filter((c) => c.userId === patient.id);
    assert.deepEqual(
      mine.map((c) => [c.consented, c.method]),
      [
        [true, 'verbal'],
        [false, 'in-app'],
      ],
      'the attested yes, then the patient’s own no',
    );
    await P.page.getByTestId('toggle-recording').click();
    await P.page.getByTestId('recording-indicator').waitFor({ state: 'hidden' });
    await P.page.getByTestId('end-call').click();
    await A.page.getByTestId('home').waitFor({ state: 'visible' });
  });

  it('declining on one device ends the ringing everywhere and tells the provider', async () => {
    await P.page.getByTestId('home').waitFor({ state: 'visible' });
    await P.page.getByTestId('type-audio').check();
    await P.page.getByTestId('start-call').click();
    await A.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
    await B.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
    assert.match(await B.page.getByTestId('incoming-text').textContent(), /audio call/);
    await B.page.keyboard.press('Escape'); // the keyboard declines too
    await A.page.getByTestId('incoming-call').waitFor({ state: 'hidden' });
    await P.page.getByTestId('home').waitFor({ state: 'visible' });
    await statusMatches(P.page, /Call ended/);
    await until(P.page, 'history shows the declined call', () => document.querySelector('[data-testid=call-row]')?.dataset.status === 'cancelled');
    assert.match(await statusText(B.page), /declined/);
  });
});
