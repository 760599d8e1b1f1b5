// The waiting room across nodes: the patient waits on one node while the provider, on
// another, sees the queue, admits them and sends them back. Each admission is carried out by
// the node that holds the patient's connection (docs/signaling.md, "Waiting room").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { user, api, createCall, connect, recorder, ask, closeAll, fakeSdp } from '../signaling/helpers.mjs';
import { cluster } from './cluster.mjs';

let c;
before(async () => {
  c = await cluster();
});
after(async () => {
  closeAll();
  await c.stop();
});

test('a patient waiting on node B is seen, admitted and sent back by a provider on node A', async () => {
  const a = await c.node('a');
  const b = await c.node('b');
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(a, provider);
  const pat = await connect(b, patient);
  const [provEv, patEv] = [recorder(prov), recorder(pat)];
  const callId = await createCall(a, provider, patient, { waitingRoom: true });

  const seated = await ask(pat, 'join-call', { callId });
  assert.equal(seated.waiting, true, JSON.stringify(seated));
  const queue = await provEv.next('waiting-room', (e) => e.callId === callId && e.waiting.length === 1, 8000);
  assert.equal(queue.waiting[0].userId, patient.id);

  assert.equal((await ask(prov, 'join-call', { callId })).ok, true);
  await patEv.next('waiting-room-status', (e) => e.providerPresent === true, 8000);

  // Admitted from node A: node B lets the patient's device in.
  assert.equal((await ask(prov, 'admit-participant', { callId, userId: patient.id })).ok, true);
  await patEv.next('admitted', (e) => e.callId === callId && e.admittedBy === provider.id, 8000);
  const roster = await patEv.next('room-participants', (e) => e.callId === callId, 8000);
  assert.deepEqual([...roster.participants].sort(), [provider.id, patient.id].sort());
  await provEv.next('participant-joined', (e) => e.userId === patient.id, 8000);
  pat.emit('offer', { callId, offer: { type: 'offer', sdp: fakeSdp('across') }, targetUserId: provider.id });
  await provEv.next('offer', (e) => e.offer.sdp === fakeSdp('across'), 8000);
  const details = await api(b, provider, 'GET', `/calls/${callId}`);
  assert.equal(details.body.status, 'active');

  // Sent back from node A: node B takes the device out of the call.
  assert.equal((await ask(prov, 'return-to-waiting-room', { callId, userId: patient.id })).ok, true);
  const left = await provEv.next('participant-left', (e) => e.userId === patient.id, 8000);
  assert.equal(left.reason, 'returned to waiting room');
  await patEv.next('waiting-room-status', (e) => e.callId === callId && e.position === 1, 8000);
  const refused = await ask(pat, 'offer', { callId, offer: { type: 'offer', sdp: fakeSdp('x') } });
  assert.equal(refused.error?.code, 'not-admitted');

  // Admitted again through REST on node B.
  const ok = await api(b, provider, 'POST', `/calls/${callId}/admit`, { userId: patient.id });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  await provEv.next('participant-joined', (e) => e.userId === patient.id, 8000);
});
