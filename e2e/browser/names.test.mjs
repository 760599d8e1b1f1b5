// Names in the web app: the provider starts a call by picking one of their recent patients by
// name (an id pasted instead is checked first: one the server has never seen is flagged and
// rings nobody), the patient is rung by the provider's name, the call and both histories name
// the people, and no screen shows an id. Names come from each person's sign-in token.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { startServer, user, api, launchBrowser, openApp, screenshot, until } from './helpers.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** A screen: no serious or critical axe-core violation, no id in its text; saved. */
async function screen(page, name) {
  await page.evaluate(`${AXE}\n;void 0`);
  const bad = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  assert.deepEqual(bad, [], `${name}: axe-core violations`);
  assert.doesNotMatch(await page.locator('body').innerText(), UUID, `${name}: no id on screen`);
  await screenshot(page, `names-${name}`);
}

const text = (page, testid) => page.getByTestId(testid).first().textContent();
const textMatches = (page, testid, re) =>
  until(page, `${testid} matching ${re}`, ([t, src]) => new RegExp(src).test(document.querySelector(`[data-testid=${t}]`)?.textContent ?? ''), [testid, re.source]);

describe('names in the web app', () => {
  let server, browser, pat, ada, bo, P, A;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    pat = user('provider', { name: 'Dr. Pat Hale' });
    ada = user('patient', { name: 'Ada Lovelace' });
    bo = user('patient', { name: 'Bo Diddley' });
    // Pat called Bo, then Ada, earlier (both declined): they are Pat's recent patients.
    for (const patient of [bo, ada]) {
      assert.equal((await api(server, patient, 'GET', '/calls')).status, 200); // signs in once
      const call = await api(server, pat, 'POST', '/calls', { patientId: patient.id, type: 'video' });
      assert.equal(call.status, 201);
      assert.equal((await api(server, patient, 'POST', `/calls/${call.body.id}/cancel`, { reason: 'Declined' })).status, 200);
    }
  });
  after(async () => {
    for (const s of [P, A]) if (s?.problems.length) console.log(`page problems (${s.who.role}):`, s.problems);
    await browser?.close();
    await server?.stop();
  });

  it('the provider’s start form lists their recent patients by name, most recent first', async () => {
    P = await openApp(browser, server, pat, { viewport: { width: 1280, height: 800 } });
    A = await openApp(browser, server, ada, { viewport: { width: 390, height: 844 } });
    await until(P.page, 'two recent patients', () => document.querySelectorAll('[data-testid=recent-patient]').length === 2);
    const listed = await P.page.getByTestId('recent-patient').allTextContents();
    assert.match(listed[0], /^\s*Ada Lovelace · last call /);
    assert.match(listed[1], /^\s*Bo Diddley · last call /);
    await textMatches(P.page, 'calls-body', /Ada Lovelace/);
    await screen(P.page, 'provider-home');
  });

  it('an id the server has never seen is flagged and rings nobody', async () => {
    const before = (await api(server, pat, 'GET', '/calls')).body.total;
    await P.page.getByText('Call a patient by their id').click();
    await P.page.getByTestId('patient-id').fill(randomUUID());
    await P.page.getByTestId('start-call').click();
    await textMatches(P.page, 'patient-id-help', /Nobody with this id has ever signed in here/);
    assert.equal(await P.page.getByTestId('patient-id').getAttribute('aria-invalid'), 'true');
    assert.match(await text(P.page, 'problem'), /nothing was rung/);
    assert.equal((await api(server, pat, 'GET', '/calls')).body.total, before, 'no call was placed');
    assert.equal(await P.page.getByTestId('call-view').isHidden(), true);
    await screenshot(P.page, 'names-provider-unknown-id'); // shows the id typed in: not an id-free screen
    await P.page.getByTestId('patient-id').fill('');
  });

  it('the provider picks Ada by name; Ada is rung by Dr. Pat Hale; the call names them both', async () => {
    await P.page.getByRole('radio', { name: /^Ada Lovelace/ }).check();
    assert.equal(await text(P.page, 'start-call'), 'Call Ada Lovelace');
    await P.page.getByTestId('start-call').click();
    await textMatches(P.page, 'call-phase', /Calling Ada Lovelace/);

    await A.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
    assert.equal(await text(A.page, 'incoming-text'), 'Dr. Pat Hale is calling you (video call).');
    await screen(A.page, 'patient-incoming-call');

    await A.page.getByTestId('accept-call').click();
    await until(P.page, 'the provider connected', () => document.querySelector('[data-testid=call-view]')?.dataset.phase === 'connected');
    await until(A.page, 'the patient connected', () => document.querySelector('[data-testid=call-view]')?.dataset.phase === 'connected');
    await textMatches(P.page, 'remote-name', /^Ada Lovelace$/);
    await textMatches(A.page, 'remote-name', /^Dr\. Pat Hale$/);
    assert.equal(await text(P.page, 'call-phase'), 'Connected with Ada Lovelace');
    assert.equal(await text(A.page, 'call-phase'), 'Connected with Dr. Pat Hale');
    await screen(P.page, 'provider-in-call');
    await screen(A.page, 'patient-in-call');

    await P.page.getByTestId('end-call').click();
    await A.page.getByTestId('visit-ended').waitFor({ state: 'visible' });
    assert.equal(await text(A.page, 'visit-ended-reason'), 'Dr. Pat Hale ended the call.');
  });

  it('both histories name the other person', async () => {
    await P.page.getByTestId('visit-ended').waitFor({ state: 'visible' });
    await until(P.page, 'the ended call listed', () => document.querySelector('[data-testid=call-row]')?.dataset.status === 'ended');
    await until(A.page, 'the ended call listed', () => document.querySelector('[data-testid=call-row]')?.dataset.status === 'ended');
    assert.equal(await text(P.page, 'call-with'), 'Ada Lovelace');
    assert.equal(await text(A.page, 'call-with'), 'Dr. Pat Hale');
    await screen(P.page, 'provider-history');
    await screen(A.page, 'patient-history');
  });
});
