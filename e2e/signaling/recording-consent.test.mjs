// Recording consent over signaling: a participant who joins a call while it is recorded is
// asked for consent (`recording-consent-requested`, to their devices only), the recording
// peer refuses their media until they agree, and a refusal is recorded and audited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, user, api, createCall, connect, recorder, ask, closeAll, fakeSdp, sleep } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  closeAll();
  await server.stop();
});

/** A recorded call: provider and patient joined and consented; a second provider not yet in. */
async function recordedCall() {
  const provider = user('provider');
  const colleague = user('provider');
  const patient = user('patient');
  const callId = await createCall(server, provider, patient, { additionalProviderIds: [colleague.id] });
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const [provEv, patEv] = [recorder(prov), recorder(pat)];
  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  assert.equal((await ask(pat, 'join-call', { callId })).ok, true);
  const started = await api(server, provider, 'POST', `/calls/${callId}/record`, {
    consentObtained: true,
    consentedParticipants: [provider.id, patient.id],
    consentMethod: 'verbal',
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const recordingId = started.body.id;
  await provEv.next('recording-started', (e) => e.recordingId === recordingId);
  await patEv.next('recording-started', (e) => e.recordingId === recordingId);
  return { provider, colleague, patient, callId, recordingId, prov, pat, provEv, patEv };
}

async function auditOf(callId) {
  const admin = user('admin');
  const r = await api(server, admin, 'GET', `/audit?callId=${callId}&limit=500`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.entries;
}

test('a late joiner is asked for consent, and only they are asked', async () => {
  const c = await recordedCall();
  const late = await connect(server, c.colleague);
  const lateEv = recorder(late);
  assert.equal((await ask(late, 'join-call', { callId: c.callId })).ok, true);
  const asked = await lateEv.next('recording-consent-requested');
  assert.deepEqual(asked, { callId: c.callId, recordingId: c.recordingId });

  // The patient's second device joining is not asked: the patient's consent is on record.
  const patPhone = await connect(server, c.patient);
  const phoneEv = recorder(patPhone);
  assert.equal((await ask(patPhone, 'join-call', { callId: c.callId })).ok, true);
  await sleep(500);
  assert.deepEqual(phoneEv.events('recording-consent-requested'), []);
  assert.deepEqual(c.patEv.events('recording-consent-requested'), []);
  assert.deepEqual(c.provEv.events('recording-consent-requested'), []);

  const entries = await auditOf(c.callId);
  const request = entries.find((e) => e.action === 'consent.request');
  assert.ok(request, JSON.stringify(entries.map((e) => e.action)));
  assert.equal(request.detail.subject, c.colleague.id);
  assert.equal(request.recordingId, c.recordingId);
});

test('until the late joiner consents the recording peer refuses their media; a refusal is recorded and audited', async () => {
  const c = await recordedCall();
  const late = await connect(server, c.colleague);
  const lateEv = recorder(late);
  assert.equal((await ask(late, 'join-call', { callId: c.callId })).ok, true);
  await lateEv.next('recording-consent-requested');

  const offerPath = `/calls/${c.callId}/recordings/${c.recordingId}/offer`;
  const before = await api(server, c.colleague, 'POST', offerPath, { type: 'offer', sdp: fakeSdp('offer') });
  assert.equal(before.status, 409, JSON.stringify(before.body));
  assert.match(String(before.body.type), /consent-required/);

  const refused = await api(server, c.colleague, 'POST', `/calls/${c.callId}/recording-consent`, { consented: false });
  assert.equal(refused.status, 204, JSON.stringify(refused.body));
  const after = await api(server, c.colleague, 'POST', offerPath, { type: 'offer', sdp: fakeSdp('offer') });
  assert.equal(after.status, 409, JSON.stringify(after.body));

  const meta = await api(server, c.provider, 'GET', `/calls/${c.callId}/recordings/${c.recordingId}`);
  assert.equal(meta.status, 200, JSON.stringify(meta.body));
  const said = meta.body.consents.filter((s) => s.userId === c.colleague.id).map((s) => s.consented);
  assert.deepEqual(said, [false]);

  const entries = await auditOf(c.callId);
  const refusal = entries.find(
    (e) => e.action === 'consent.record' && e.actorId === c.colleague.id && e.detail.consented === false,
  );
  assert.ok(refusal, 'the refusal is audited');
  assert.equal(refusal.recordingId, c.recordingId);
  const denied = entries.filter((e) => e.action === 'recording.connect' && e.outcome === 'denied' && e.actorId === c.colleague.id);
  assert.equal(denied.length, 2, 'both refused connections are audited');
  // The recording goes on for the others.
  assert.equal(meta.body.status, 'recording');
});

test('a participant who joins after consenting is not asked again', async () => {
  const c = await recordedCall();
  const consented = await api(server, c.colleague, 'POST', `/calls/${c.callId}/recording-consent`, { consented: true });
  assert.equal(consented.status, 204, JSON.stringify(consented.body));
  const late = await connect(server, c.colleague);
  const lateEv = recorder(late);
  assert.equal((await ask(late, 'join-call', { callId: c.callId })).ok, true);
  await sleep(500);
  assert.deepEqual(lateEv.events('recording-consent-requested'), []);
});
