// Unit tests of the waiting room in VytalcallClient (docs/signaling.md, "Waiting room"): a
// patient seated by `join-call` waits without connecting; `admitted` and the roster that
// follows start the call as a join does; a provider's send-back closes the call's
// connections and seats the patient again; the providers' side sees the queue and acts on it.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { SignalingRequestError, isWaitingResult } from '../dist/index.js';
import { tokenFor, connectedClient, closeClients, until } from './fakes.mjs';

afterEach(closeClients);

const PATIENT = '22222222-2222-4222-8222-222222222222';
const PROVIDER = '11111111-1111-4111-8111-111111111111';
const CALL = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
const AT = '2026-01-01T00:00:00.000Z';
const rest = () => ({ 'GET /ice-servers': async () => ({ iceServers: [] }) });

/** Peer connections that only record that they were made and closed. */
function fakePeers() {
  const made = [];
  class FakePeer {
    constructor() {
      this.closed = false;
      this.connectionState = 'new';
      made.push(this);
    }
    addTrack() {}
    getTransceivers() {
      return [];
    }
    restartIce() {}
    close() {
      this.closed = true;
      this.connectionState = 'closed';
    }
  }
  return { made, FakePeer };
}

/** A patient whose `join-call` is answered by a seat in the waiting room (status first, as the server does). */
async function seatedPatient() {
  const { made, FakePeer } = fakePeers();
  const c = await connectedClient(rest(), { token: tokenFor(PATIENT, 'patient'), RTCPeerConnection: FakePeer });
  const events = [];
  for (const name of ['waiting-room-status', 'message', 'admitted', 'remote-stream-removed']) c.client.on(name, (e) => events.push([name, e]));
  c.socket.replies['join-call'] = (p) => {
    c.socket.serverEmit('waiting-room-status', { callId: p.callId, position: 2, message: 'Please wait: your provider will let you in when the visit starts.', providerPresent: false });
    return { ok: true, callId: p.callId, status: 'scheduled', waiting: true, position: 2 };
  };
  const reply = await c.client.join(CALL, { callType: 'video' });
  return { ...c, reply, made, events };
}

/** The server lets the patient in: `admitted`, then the roster a join gives. */
function admit(socket) {
  socket.serverEmit('admitted', { callId: CALL, admittedBy: PROVIDER, timestamp: AT });
  roster(socket);
}

function roster(socket) {
  socket.serverEmit('room-participants', {
    callId: CALL,
    participants: [PROVIDER, PATIENT],
    people: [
      { userId: PROVIDER, role: 'provider', name: 'Dr. Ruth Okafor' },
      { userId: PATIENT, role: 'patient', name: 'Sam Rivera' },
    ],
  });
}

test('a patient seated by join-call waits: the waiting state, no connection, nothing sent but the join', async () => {
  const { client, socket, reply, made, media } = await seatedPatient();
  assert.equal(isWaitingResult(reply), true);
  assert.equal(reply.position, 2);
  const s = client.state;
  assert.equal(s.phase, 'waiting-room');
  assert.equal(s.callId, CALL);
  assert.deepEqual(s.participants, {});
  assert.equal(s.waitingRoom.position, 2);
  assert.equal(s.waitingRoom.providerPresent, false);
  assert.match(s.waitingRoom.status, /Please wait/);
  assert.equal(s.waitingRoom.message, null);
  assert.equal(s.waitingRoom.admitted, false);
  assert.equal(made.length, 0, 'no peer connection while waiting');
  assert.equal(media.length, 1, 'the camera and microphone are taken (for the check and the call)');
  assert.deepEqual(socket.sent.map((x) => x.event), ['join-call']);

  // Muting while waiting changes our state but tells nobody (we are not in the call).
  client.setMuted(true);
  assert.equal(client.state.local.audioEnabled, false);
  assert.deepEqual(socket.sent.map((x) => x.event), ['join-call'], 'no update-media while waiting');
});

test('statuses and the providers’ messages reach the waiting state and the events', async () => {
  const { client, socket, events } = await seatedPatient();
  socket.serverEmit('waiting-room-status', { callId: CALL, position: 1, message: 'Your provider is here and will let you in shortly.', providerPresent: true });
  assert.equal(client.state.waitingRoom.position, 1);
  assert.equal(client.state.waitingRoom.providerPresent, true);
  assert.match(client.state.waitingRoom.status, /is here/);
  const note = { callId: CALL, text: 'Running 10 minutes late', fromUserId: PROVIDER, timestamp: AT };
  socket.serverEmit('message', note);
  socket.serverEmit('message', { ...note, text: 'Almost there' });
  assert.deepEqual(client.state.waitingRoom.message, { ...note, text: 'Almost there' });
  assert.deepEqual(client.state.waitingRoom.messages.map((m) => m.text), ['Running 10 minutes late', 'Almost there']);
  assert.deepEqual(
    events.map(([name]) => name),
    ['waiting-room-status', 'waiting-room-status', 'message', 'message'],
  );
  // Another call's status changes nothing here.
  socket.serverEmit('waiting-room-status', { callId: 'dddddddd-dddd-4ddd-8ddd-dddddddddddd', position: 9, message: 'x', providerPresent: false });
  assert.equal(client.state.waitingRoom.position, 1);
  // Nobody inside is announced to someone waiting, even if an event slipped through.
  socket.serverEmit('participant-joined', { callId: CALL, userId: PROVIDER, name: 'Dr. Ruth Okafor', role: 'provider', videoEnabled: true, audioEnabled: true, reconnected: false });
  assert.equal(client.state.phase, 'waiting-room');
  assert.deepEqual(client.state.participants, {});
});

test('admitted, the roster that follows starts the call as a join does', async () => {
  const { client, socket, made, events } = await seatedPatient();
  client.setCameraEnabled(false); // while waiting: restated once inside
  socket.serverEmit('admitted', { callId: CALL, admittedBy: PROVIDER, timestamp: AT });
  assert.equal(client.state.phase, 'joining');
  assert.equal(client.state.waitingRoom.admitted, true);
  assert.equal(made.length, 0, 'nothing is connected before the roster');
  roster(socket);
  assert.equal(client.state.phase, 'connected');
  assert.equal(client.state.waitingRoom, null);
  assert.deepEqual(Object.keys(client.state.participants), [PROVIDER]);
  assert.equal(client.state.names[PROVIDER], 'Dr. Ruth Okafor');
  assert.equal(client.state.roles[PROVIDER], 'provider');
  assert.equal(made.length, 1, 'a connection to the provider, as after a join');
  assert.deepEqual(events.filter(([n]) => n === 'admitted').map(([, e]) => e.admittedBy), [PROVIDER]);
  await until(() => socket.sent.some((x) => x.event === 'update-media'), 'the camera change to be restated');
  assert.deepEqual(socket.sent.find((x) => x.event === 'update-media').payload, { callId: CALL, videoEnabled: false, audioEnabled: true, screenShareEnabled: false });
});

test('a roster without an admission (our own join) is left to the join reply', async () => {
  const { made, FakePeer } = fakePeers();
  const { client, socket } = await connectedClient(rest(), { token: tokenFor(PATIENT, 'patient'), RTCPeerConnection: FakePeer });
  socket.replies['join-call'] = (p) => {
    socket.serverEmit('room-participants', { callId: p.callId, participants: [PATIENT, PROVIDER], people: [] });
    return { ok: true, callId: p.callId, status: 'active', participants: [PATIENT, PROVIDER], people: [], resumed: false };
  };
  await client.join(CALL);
  assert.equal(client.state.phase, 'connected');
  assert.equal(made.length, 1, 'one connection to the provider, not two');
});

test('sent back: the call’s connections close, the patient waits again with their media, and is admitted again', async () => {
  const { client, socket, made, media, events } = await seatedPatient();
  admit(socket);
  assert.equal(made.length, 1);
  // The server seats a sent-back device again and tells it its place.
  socket.serverEmit('waiting-room-status', { callId: CALL, position: 1, message: 'Your provider is here and will let you in shortly.', providerPresent: true });
  assert.equal(client.state.phase, 'waiting-room');
  assert.deepEqual(client.state.participants, {});
  assert.equal(client.state.waitingRoom.position, 1);
  assert.equal(client.state.waitingRoom.providerPresent, true);
  assert.equal(made[0].closed, true, 'the connection to the provider is closed');
  assert.ok(events.some(([n, e]) => n === 'remote-stream-removed' && e.userId === PROVIDER));
  assert.ok(client.local, 'camera and microphone stay for the next admission');
  assert.equal(media.length, 1);

  admit(socket);
  assert.equal(client.state.phase, 'connected');
  assert.equal(made.length, 2, 'a fresh connection after the second admission');
  assert.equal(media.length, 1, 'no second getUserMedia');
});

test('leaving the waiting room sends leave-call and releases the media', async () => {
  const { client, socket } = await seatedPatient();
  await client.leave('left the waiting room');
  assert.equal(client.state.phase, 'ended');
  assert.equal(client.state.waitingRoom, null);
  assert.deepEqual(socket.sent.at(-1), { event: 'leave-call', payload: { callId: CALL, reason: 'left the waiting room' } });
  assert.equal(client.local, null);
});

test('a drop while waiting resumes in the waiting room, without connecting', async () => {
  const { client, socket, made } = await seatedPatient();
  socket.connected = false;
  socket.serverEmit('disconnect', 'transport close');
  assert.equal(client.state.phase, 'reconnecting');
  assert.ok(client.state.waitingRoom, 'the waiting room is remembered while reconnecting');
  socket.replies['reconnect-call'] = (p) => ({ ok: true, callId: p.callId, status: 'scheduled', waiting: true, position: 1 });
  const back = new Promise((resolve) => client.on('reconnected', resolve));
  socket.connected = true;
  socket.serverEmit('connect');
  assert.equal((await back).waiting, true);
  assert.equal(client.state.phase, 'waiting-room');
  assert.equal(client.state.waitingRoom.position, 1);
  assert.equal(made.length, 0);
});

test('providers: admit, send back, message and the queue of each call', async () => {
  const { client, socket } = await connectedClient(rest(), { token: tokenFor(PROVIDER, 'provider') });
  const queues = [];
  client.on('waiting-room', (e) => queues.push(e));
  const waiting = [{ userId: PATIENT, name: 'Sam Rivera', role: 'patient', since: AT, deviceCheck: null }];
  socket.serverEmit('waiting-room', { callId: CALL, waiting });
  assert.deepEqual(client.waitingRooms.get(CALL), waiting);
  assert.equal(queues.length, 1);

  socket.replies['admit-participant'] = (p) => ({ ok: true, ...p });
  assert.deepEqual(await client.admit(PATIENT, CALL), { ok: true, callId: CALL, userId: PATIENT });
  socket.replies['return-to-waiting-room'] = (p) => ({ ok: true, ...p });
  await client.sendBack(PATIENT, CALL);
  await client.messageWaitingRoom('Running late', CALL);
  assert.deepEqual(
    socket.sent.map((x) => [x.event, x.payload]),
    [
      ['admit-participant', { callId: CALL, userId: PATIENT }],
      ['return-to-waiting-room', { callId: CALL, userId: PATIENT }],
      ['waiting-room-message', { callId: CALL, text: 'Running late' }],
    ],
  );
  socket.replies['admit-participant'] = () => ({ error: { code: 'call-full', message: 'the call is full' } });
  await assert.rejects(client.admit(PATIENT, CALL), (err) => err instanceof SignalingRequestError && err.code === 'call-full');
  await assert.rejects(client.admit(PATIENT), /no call/, 'outside a call the call must be named');

  socket.serverEmit('waiting-room', { callId: CALL, waiting: [] });
  assert.equal(client.waitingRooms.has(CALL), false, 'an empty room is left out');
});

test('a waiting patient reports the device check for their call', async () => {
  const { client, socket } = await seatedPatient();
  await client.deviceCheck({ camera: 'ok', microphone: 'ok', speaker: 'unavailable', network: { result: 'ok', rttMs: 42, turn: null } });
  assert.deepEqual(socket.sent.at(-1), {
    event: 'device-check',
    payload: { callId: CALL, camera: 'ok', microphone: 'ok', speaker: 'unavailable', network: { result: 'ok', rttMs: 42, turn: null } },
  });
});
