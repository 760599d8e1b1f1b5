// REST and signaling as one system, and connection quality: REST answers and cancels reach
// every device, scheduled calls ring when someone shows up, quality reports are judged,
// sampled and asked for, and the signaling metrics are exported.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, user, api, createCall, connect, recorder, ask, closeAll, sleep } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer({ QUALITY_SAMPLE_SECONDS: '60', QUALITY_STATS_REQUEST_SECONDS: '2' });
});
after(async () => {
  closeAll();
  await server.stop();
});

const good = { bandwidth: 1500, latency: 45, packetLoss: 0.5, jitter: 12, videoResolution: '1280x720' };
const lossy = { bandwidth: 1500, latency: 45, packetLoss: 18, jitter: 12, videoResolution: '1280x720' };

test('answering over REST tells every device, so the others stop ringing', async () => {
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(server, provider);
  const a = await connect(server, patient);
  const b = await connect(server, patient);
  const [provEv, aEv, bEv] = [recorder(prov), recorder(a), recorder(b)];
  const callId = await createCall(server, provider, patient);
  await aEv.next('incoming-call');
  await bEv.next('incoming-call');
  const r = await api(server, patient, 'POST', `/calls/${callId}/answer`, { videoEnabled: true, audioEnabled: true });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  for (const ev of [provEv, aEv, bEv]) {
    const answered = await ev.next('call-answered');
    assert.equal(answered.callId, callId);
    assert.equal(answered.answeredBy, patient.id);
    assert.ok(!Number.isNaN(Date.parse(answered.timestamp)));
  }
});

test('cancelling over REST tells every device and closes the room', async () => {
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const [provEv, patEv] = [recorder(prov), recorder(pat)];
  const callId = await createCall(server, provider, patient);
  await ask(prov, 'join-call', { callId });
  const r = await api(server, provider, 'POST', `/calls/${callId}/cancel`, { reason: 'patient unavailable' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  for (const ev of [provEv, patEv]) {
    const c = await ev.next('call-cancelled');
    assert.deepEqual([c.callId, c.reason], [callId, 'patient unavailable']);
  }
  const late = await ask(pat, 'join-call', { callId });
  assert.equal(late.error.code, 'call-not-joinable');
  const relay = await ask(prov, 'ice-candidate', { callId, candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 1 typ host', sdpMid: '0' } });
  assert.equal(relay.error.code, 'not-joined');
  const details = await api(server, provider, 'GET', `/calls/${callId}`);
  assert.equal(details.body.participants.length, 1);
  assert.equal(details.body.participants[0].leaveReason, 'patient unavailable');
});

test('a scheduled call without a waiting room rings when its first participant shows up and becomes active with the second', async () => {
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const patEv = recorder(pat);
  const at = new Date(Date.now() + 3600_000).toISOString();
  // A call scheduled in the future has a waiting room unless asked not to (waiting-room.test.mjs).
  const created = await api(server, provider, 'POST', '/calls', { patientId: patient.id, type: 'audio', scheduledAt: at, waitingRoom: false });
  assert.equal(created.body.status, 'scheduled', JSON.stringify(created.body));
  const callId = created.body.id;
  await sleep(200);
  assert.equal(patEv.events('incoming-call').length, 0, 'a scheduled call does not ring at creation');

  const first = await ask(prov, 'join-call', { callId });
  assert.equal(first.status, 'ringing');
  const ring = await patEv.next('incoming-call');
  assert.equal(ring.callType, 'audio');
  assert.ok(ring.scheduledAt);
  const second = await ask(pat, 'join-call', { callId, videoEnabled: false });
  assert.equal(second.status, 'active');
});

test('quality reports are judged, stored at most once per interval, and silence is asked about', async () => {
  const provider = user('provider');
  const patient = user('patient');
  const prov = await connect(server, provider);
  const pat = await connect(server, patient);
  const patEv = recorder(pat);
  const provEv = recorder(prov);
  const callId = await createCall(server, provider, patient);
  await ask(prov, 'join-call', { callId });
  await ask(pat, 'join-call', { callId });

  const fine = await ask(pat, 'connection-quality', { callId, metrics: good });
  assert.deepEqual([fine.ok, fine.stored, fine.warning], [true, true, null]);
  const sampled = await ask(pat, 'connection-quality', { callId, metrics: good });
  assert.equal(sampled.stored, false, 'a second report within the interval is not stored');

  const suggestions = [];
  for (let i = 0; i < 3; i++) {
    await ask(pat, 'connection-quality', { callId, metrics: lossy });
    const w = await patEv.next('quality-warning');
    assert.equal(w.callId, callId);
    assert.equal(w.warning, 'high-packet-loss');
    assert.equal(w.metrics.packetLoss, 18);
    suggestions.push(w.suggestion);
  }
  assert.deepEqual(suggestions, ['reduce-video-quality', 'reduce-video-quality', 'switch-to-audio-only']);
  assert.equal(provEv.events('quality-warning').length, 0, 'warnings go to the one whose connection is poor');

  // The provider has sent nothing: the server asks for stats.
  const req = await provEv.next('request-quality-stats', () => true, 5000);
  assert.equal(req.callId, callId);

  await ask(pat, 'ice-candidate', { callId, candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 1 typ host', sdpMid: '0' } });
  await ask(pat, 'update-media', { callId });
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  for (const name of [
    'vytalcall_signaling_connected_sockets',
    'vytalcall_signaling_events_total{event="connection-quality"}',
    'vytalcall_signaling_relay_seconds',
    'vytalcall_signaling_errors_total{event="update-media",code="invalid-payload"}',
  ]) {
    assert.ok(metrics.includes(name), `metrics export ${name}`);
  }
});
