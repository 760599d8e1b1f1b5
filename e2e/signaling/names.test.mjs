// Names over signaling: the server keeps each person's display name from their latest
// token's `name` claim and sends it wherever a person appears, beside the ids the seed's
// frontend reads (`from`, `participants`, `userId`), which stay as they were.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, user, createCall, connect, recorder, ask, closeAll } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  closeAll();
  await server.stop();
});

test('the patient is rung by the provider’s name and both are named in the call’s participant lists', async () => {
  const provider = user('provider', { name: 'Dr. Pat Hale' });
  const patient = user('patient', { name: 'Ada Lovelace' });
  const phone = await connect(server, patient);
  const phoneEv = recorder(phone);

  const callId = await createCall(server, provider, patient);
  const ring = await phoneEv.next('incoming-call', (d) => d.callId === callId);
  assert.equal(ring.from, provider.id, 'the id stays');
  assert.equal(ring.fromName, 'Dr. Pat Hale');

  const prov = await connect(server, provider);
  const provEv = recorder(prov);
  const provJoin = await ask(prov, 'join-call', { callId });
  assert.deepEqual(provJoin.participants, [provider.id]);
  assert.deepEqual(provJoin.people, [{ userId: provider.id, role: 'provider', name: 'Dr. Pat Hale' }]);

  const patJoin = await ask(phone, 'join-call', { callId });
  assert.equal(patJoin.ok, true);
  const named = Object.fromEntries(patJoin.people.map((p) => [p.userId, p.name]));
  assert.deepEqual(named, { [provider.id]: 'Dr. Pat Hale', [patient.id]: 'Ada Lovelace' });
  assert.deepEqual(patJoin.people.map((p) => p.userId), patJoin.participants, 'people follow participants, in order');

  const rooms = await phoneEv.next('room-participants', (d) => d.callId === callId);
  assert.deepEqual(rooms.people.map((p) => p.userId), rooms.participants);
  assert.equal(rooms.people.find((p) => p.userId === provider.id).name, 'Dr. Pat Hale');

  const joined = await provEv.next('participant-joined', (d) => d.userId === patient.id);
  assert.equal(joined.name, 'Ada Lovelace');
  assert.equal(joined.role, 'patient');
  assert.equal(joined.reconnected, false, 'the seed’s fields are all still there');
});

test('someone whose token has no name keeps the name they signed in with before, and a stranger is null', async () => {
  const provider = user('provider', { name: 'Dr. Quinn' });
  const id = provider.id;
  // Signed in once with a name (a REST request records it) ...
  const first = await createCall(server, provider, user('patient'));
  assert.ok(first);
  // ... and now calls with a token that has none.
  const unnamed = user('provider', { id, name: null });
  const patient = user('patient', { name: 'Bo' });
  const phone = await connect(server, patient);
  const phoneEv = recorder(phone);
  const callId = await createCall(server, unnamed, patient);
  const ring = await phoneEv.next('incoming-call', (d) => d.callId === callId);
  assert.equal(ring.fromName, 'Dr. Quinn');

  const nobody = user('provider', { name: null });
  const other = await createCall(server, nobody, patient);
  const ring2 = await phoneEv.next('incoming-call', (d) => d.callId === other);
  assert.equal(ring2.fromName, null, 'unknown is null, never the id');
});
