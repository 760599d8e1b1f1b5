// Unit tests of VytalcallClient against an in-memory Socket.IO socket and REST API: the order
// in which a call's events and our own requests' replies arrive is chosen by the test.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { tokenFor, connectedClient as connect, closeClients, until } from './fakes.mjs';

afterEach(closeClients);

const PROVIDER = '11111111-1111-4111-8111-111111111111';
const CALL = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
const token = tokenFor(PROVIDER, 'provider');
const connectedClient = (rest, opts = {}) => connect(rest, { token, ...opts });

const declined = { callId: CALL, reason: 'declined', timestamp: '2026-01-01T00:00:00Z' };

test('a call declined before its creation returns is reported as ended when we join it, and is not joined', async () => {
  const { client, socket, media, ended } = await connectedClient({
    // The patient declines while our POST /calls is still under way.
    'POST /calls': async () => {
      socket.serverEmit('call-cancelled', declined);
      return { id: CALL, type: 'audio', status: 'ringing' };
    },
    'GET /ice-servers': async () => ({ iceServers: [] }),
  });
  socket.replies['join-call'] = () => ({ error: { code: 'call-not-joinable', message: 'the call is over' } });
  const call = await client.createCall({ patientId: '22222222-2222-4222-8222-222222222222', type: 'audio' });
  await assert.rejects(client.join(call.id, { callType: 'audio' }), (err) => err.code === 'call-ended');
  assert.equal(client.state.phase, 'ended');
  assert.equal(client.state.callId, CALL);
  assert.equal(client.state.endReason, 'declined', 'the server’s reason, not a join error');
  assert.deepEqual(ended, [declined], 'the held-back call-ended is emitted once');
  assert.deepEqual(media, [], 'no camera or microphone is taken for a call that is over');
  assert.deepEqual(socket.sent.map((s) => s.event), [], 'nothing is sent to the server');
});

test('a call that ends while we are joining it ends the join with the server’s reason', async () => {
  const { client, socket, media, ended } = await connectedClient({
    'GET /ice-servers': async () => {
      socket.serverEmit('call-ended', declined);
      return { iceServers: [] };
    },
  });
  await assert.rejects(client.join(CALL, { callType: 'audio' }), (err) => err.code === 'call-ended');
  assert.equal(client.state.phase, 'ended');
  assert.equal(client.state.endReason, 'declined');
  assert.deepEqual(ended, [declined]);
  assert.deepEqual(media, []);
  assert.deepEqual(socket.sent.map((s) => s.event), []);
});

test('a join-call refused for a call that ended meanwhile reports the end; other refusals stay refusals', async () => {
  const { client, socket, ended } = await connectedClient({ 'GET /ice-servers': async () => ({ iceServers: [] }) });
  socket.replies['join-call'] = () => {
    socket.serverEmit('call-ended', declined);
    return { error: { code: 'call-not-joinable', message: 'the call is over' } };
  };
  await assert.rejects(client.join(CALL, { callType: 'audio' }), (err) => err.code === 'call-ended');
  assert.equal(client.state.endReason, 'declined');
  assert.deepEqual(ended, [declined]);

  const other = 'dddddddd-dddd-4ddd-8ddd-dddddddddddd';
  socket.replies['join-call'] = () => ({ error: { code: 'call-not-joinable', message: 'the call is over' } });
  await assert.rejects(client.join(other, { callType: 'audio' }), (err) => err.code === 'call-not-joinable');
  assert.equal(client.state.callId, other);
  assert.equal(client.state.endReason, 'call-not-joinable');
});

test('the end of another call does not disturb the call we are in', async () => {
  const { client, socket, ended } = await connectedClient({ 'GET /ice-servers': async () => ({ iceServers: [] }) });
  socket.replies['join-call'] = (p) => ({ callId: p.callId, participants: [PROVIDER] });
  await client.join(CALL, { callType: 'audio' });
  assert.equal(client.state.phase, 'waiting');
  socket.serverEmit('call-ended', { ...declined, callId: 'dddddddd-dddd-4ddd-8ddd-dddddddddddd' });
  assert.equal(client.state.phase, 'waiting');
  assert.equal(client.state.callId, CALL);
  assert.deepEqual(ended, []);
});

// ---- recording consent: our media goes to the recorder only on our own yes ----

const RECORDING = 'rrrrrrrr-rrrr-4rrr-8rrr-rrrrrrrrrrrr';
const OTHER = '33333333-3333-4333-8333-333333333333';

/** A recorder connection that only counts how often one is made. */
function countingPeer() {
  const made = [];
  class FakePeer {
    constructor() {
      made.push(this);
    }
    addTransceiver() {}
    async setLocalDescription() {
      throw new Error('stop here: the offer is not under test');
    }
    close() {}
  }
  return { made, FakePeer };
}

/** In a call, a recording starts while the call's history holds `consents`. */
async function recordingStartsWith(consents) {
  const { made, FakePeer } = countingPeer();
  const { client, socket } = await connectedClient(
    {
      'GET /ice-servers': async () => ({ iceServers: [] }),
      [`GET /calls/${CALL}`]: async () => ({ id: CALL, consents }),
    },
    { RTCPeerConnection: FakePeer },
  );
  socket.replies['join-call'] = () => ({ callId: CALL, status: 'active', participants: [PROVIDER] });
  await client.join(CALL, { callType: 'audio' });
  const asked = [];
  client.on('recording-consent-requested', (e) => asked.push(e));
  socket.serverEmit('recording-started', { callId: CALL, recordingId: RECORDING, startedBy: OTHER, timestamp: '2026-01-01T00:00:00Z' });
  return { client, made, asked };
}

const statement = (recordedBy, consented, at) => ({ userId: PROVIDER, consented, method: 'verbal', recordedBy, recordedAt: at });

test('attested by someone else only, we are asked and send nothing to the recorder', async () => {
  const { client, made, asked } = await recordingStartsWith([statement(OTHER, true, '2026-01-01T00:00:01Z')]);
  await until(() => asked.length === 1, 'the consent question');
  assert.deepEqual(asked, [{ callId: CALL, recordingId: RECORDING }]);
  assert.equal(client.state.consentRequested, RECORDING);
  assert.equal(made.length, 0, 'no connection to the recorder without our own yes');
});

test('after our own no, an attestation does not send our media and we are not asked again', async () => {
  const { client, made, asked } = await recordingStartsWith([
    statement(PROVIDER, false, '2026-01-01T00:00:01Z'),
    statement(OTHER, true, '2026-01-01T00:00:02Z'),
  ]);
  await until(() => client.state.recordingConsent === false, 'our own no to be known');
  assert.equal(made.length, 0);
  assert.deepEqual(asked, []);
});

test('our own latest yes sends our media to the recorder', async () => {
  const { client, made } = await recordingStartsWith([
    statement(PROVIDER, false, '2026-01-01T00:00:01Z'),
    statement(PROVIDER, true, '2026-01-01T00:00:03Z'),
  ]);
  await until(() => made.length === 1, 'the recorder connection');
  assert.equal(client.state.recordingConsent, true);
});
