// Unit tests of the call-state reducer: the sequences a UI sees during real calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callReducer, initialCallState } from '../dist/index.js';

const ME = '11111111-1111-4111-8111-111111111111';
const PEER = '22222222-2222-4222-8222-222222222222';
const CALL = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';

const run = (actions, from = initialCallState) => actions.reduce(callReducer, from);

test('incoming call rings; accepting joins; the reply with the caller in it makes it connected', () => {
  let s = run([{ type: 'incoming', callId: CALL, callType: 'video', from: PEER }]);
  assert.equal(s.phase, 'ringing');
  assert.equal(s.from, PEER);
  s = run([{ type: 'join', callId: CALL }], s);
  assert.equal(s.phase, 'joining');
  assert.equal(s.callType, 'video', 'the ringing call’s type is kept');
  s = run([{ type: 'joined', callId: CALL, participants: [PEER, ME], self: ME }], s);
  assert.equal(s.phase, 'connected');
  assert.deepEqual(Object.keys(s.participants), [PEER], 'we are not our own participant');
});

test('joining first waits; the other side joining connects; their leaving waits again', () => {
  let s = run([
    { type: 'join', callId: CALL, callType: 'video' },
    { type: 'joined', callId: CALL, participants: [ME], self: ME },
  ]);
  assert.equal(s.phase, 'waiting');
  s = callReducer(s, { type: 'participant-joined', userId: PEER, videoEnabled: false, audioEnabled: true });
  assert.equal(s.phase, 'connected');
  assert.equal(s.participants[PEER].videoEnabled, false);
  s = callReducer(s, { type: 'participant-left', userId: PEER });
  assert.equal(s.phase, 'waiting');
  assert.equal(s.participants[PEER], undefined);
});

test('a participant dropping is marked, and coming back clears the mark', () => {
  let s = run([
    { type: 'join', callId: CALL },
    { type: 'joined', callId: CALL, participants: [ME, PEER], self: ME },
    { type: 'participant-disconnected', userId: PEER },
  ]);
  assert.equal(s.participants[PEER].disconnected, true);
  assert.equal(s.phase, 'waiting');
  s = callReducer(s, { type: 'participant-joined', userId: PEER, videoEnabled: true, audioEnabled: true });
  assert.equal(s.participants[PEER].disconnected, false);
  assert.equal(s.phase, 'connected');
});

test('our own drop is reconnecting, and the resumed join reply connects again keeping media state', () => {
  let s = run([
    { type: 'join', callId: CALL },
    { type: 'joined', callId: CALL, participants: [ME, PEER], self: ME },
    { type: 'local-media', audioEnabled: false },
    { type: 'connection-lost' },
  ]);
  assert.equal(s.phase, 'reconnecting');
  s = callReducer(s, { type: 'joined', callId: CALL, participants: [ME, PEER], self: ME });
  assert.equal(s.phase, 'connected');
  assert.equal(s.local.audioEnabled, false);
});

test('losing the connection when not in a call changes nothing', () => {
  assert.equal(callReducer(initialCallState, { type: 'connection-lost' }), initialCallState);
  const ringing = run([{ type: 'incoming', callId: CALL, callType: 'video', from: PEER }]);
  assert.equal(callReducer(ringing, { type: 'connection-lost' }).phase, 'ringing');
});

test('a second incoming call does not replace the call in progress', () => {
  const s = run([
    { type: 'join', callId: CALL },
    { type: 'joined', callId: CALL, participants: [ME, PEER], self: ME },
  ]);
  const other = 'dddddddd-dddd-4ddd-8ddd-dddddddddddd';
  assert.equal(callReducer(s, { type: 'incoming', callId: other, callType: 'audio', from: PEER }), s);
});

test('an audio call joins without video and the camera cannot be turned on', () => {
  let s = run([{ type: 'join', callId: CALL, callType: 'audio' }]);
  assert.equal(s.audioOnly, true);
  assert.equal(s.local.videoEnabled, false);
  s = callReducer(s, { type: 'local-media', videoEnabled: true });
  assert.equal(s.local.videoEnabled, false);
});

test('switching to audio-only turns off video and screen share', () => {
  const s = run([
    { type: 'join', callId: CALL, callType: 'video' },
    { type: 'local-media', screenShareEnabled: true },
    { type: 'audio-only' },
  ]);
  assert.equal(s.audioOnly, true);
  assert.deepEqual(s.local, { videoEnabled: false, audioEnabled: true, screenShareEnabled: false });
});

test('remote media updates reach the participant entry', () => {
  const s = run([
    { type: 'join', callId: CALL },
    { type: 'joined', callId: CALL, participants: [ME, PEER], self: ME },
    { type: 'participant-media', userId: PEER, videoEnabled: false, audioEnabled: false, screenShareEnabled: true },
  ]);
  assert.deepEqual(s.participants[PEER], {
    userId: PEER,
    videoEnabled: false,
    audioEnabled: false,
    screenShareEnabled: true,
    disconnected: false,
  });
});

test('recording and consent', () => {
  let s = run([
    { type: 'join', callId: CALL },
    { type: 'recording-started', recordingId: 'r1' },
    { type: 'consent-requested', recordingId: 'r1' },
  ]);
  assert.deepEqual(s.recording, { recordingId: 'r1' });
  assert.equal(s.consentRequested, 'r1');
  s = callReducer(s, { type: 'consent-given', consented: true });
  assert.equal(s.consentRequested, null);
  assert.equal(s.recordingConsent, true);
  s = callReducer(s, { type: 'recording-stopped' });
  assert.equal(s.recording, null);
});

test('ending clears participants and recording and keeps the reason; ending an idle state does nothing', () => {
  const s = run([
    { type: 'join', callId: CALL },
    { type: 'joined', callId: CALL, participants: [ME, PEER], self: ME },
    { type: 'recording-started', recordingId: 'r1' },
    { type: 'ended', reason: 'Call completed' },
  ]);
  assert.equal(s.phase, 'ended');
  assert.equal(s.endReason, 'Call completed');
  assert.deepEqual(s.participants, {});
  assert.equal(s.recording, null);
  assert.equal(callReducer(initialCallState, { type: 'ended', reason: 'x' }), initialCallState);
});

test('a new call after an ended one starts from a clean state', () => {
  const ended = run([
    { type: 'join', callId: CALL, callType: 'audio' },
    { type: 'ended', reason: 'done' },
  ]);
  const next = 'eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee';
  const s = callReducer(ended, { type: 'incoming', callId: next, callType: 'video', from: PEER });
  assert.equal(s.phase, 'ringing');
  assert.equal(s.audioOnly, false);
  assert.equal(s.endReason, null);
});

test('a join reply for another call is ignored', () => {
  const s = run([{ type: 'join', callId: CALL }]);
  assert.equal(callReducer(s, { type: 'joined', callId: 'other', participants: [ME, PEER], self: ME }), s);
});

test('the reducer never mutates its input', () => {
  const s = run([
    { type: 'join', callId: CALL },
    { type: 'joined', callId: CALL, participants: [ME, PEER], self: ME },
  ]);
  const frozen = structuredClone(s);
  run(
    [
      { type: 'participant-media', userId: PEER, videoEnabled: false, audioEnabled: true, screenShareEnabled: false },
      { type: 'local-media', audioEnabled: false },
      { type: 'participant-left', userId: PEER },
      { type: 'ended', reason: 'x' },
    ],
    s,
  );
  assert.deepEqual(s, frozen);
});

test('names: the caller’s name rings with the call and the people of the call are named as they join', () => {
  let s = run([{ type: 'incoming', callId: CALL, callType: 'video', from: PEER, fromName: 'Dr. Pat Hale' }]);
  assert.equal(s.fromName, 'Dr. Pat Hale');
  assert.equal(s.names[PEER], 'Dr. Pat Hale');
  s = run([{ type: 'join', callId: CALL }], s);
  assert.equal(s.names[PEER], 'Dr. Pat Hale', 'accepting keeps the name');
  s = run([{ type: 'joined', callId: CALL, participants: [PEER, ME], people: [{ userId: PEER, role: 'provider', name: null }, { userId: ME, role: 'patient', name: 'Ada' }], self: ME }], s);
  assert.equal(s.names[PEER], 'Dr. Pat Hale', 'an unnamed entry keeps the name we had');
  assert.equal(s.names[ME], 'Ada');
  const other = '33333333-3333-4333-8333-333333333333';
  s = callReducer(s, { type: 'participant-joined', userId: other, name: 'Dr. Quinn', videoEnabled: true, audioEnabled: true });
  assert.equal(s.names[other], 'Dr. Quinn');
  s = callReducer(s, { type: 'ended', reason: 'done' });
  s = run([{ type: 'incoming', callId: 'dddddddd-dddd-4ddd-8ddd-dddddddddddd', callType: 'audio', from: other }], s);
  assert.equal(s.fromName, null, 'a new call starts without the last call’s names');
  assert.deepEqual(s.names, {});
});

test('the waiting room: seated, told its place and the provider’s news, admitted, then joined', () => {
  const note = { callId: CALL, text: 'Running late', fromUserId: PEER, timestamp: '2026-01-01T00:00:00.000Z' };
  let s = run([
    { type: 'join', callId: CALL, callType: 'video' },
    { type: 'waiting-room-status', callId: CALL, position: 2, providerPresent: false, message: 'Please wait.' },
    { type: 'waiting', callId: CALL, position: 2 },
  ]);
  assert.equal(s.phase, 'waiting-room');
  assert.deepEqual(s.waitingRoom, { position: 2, providerPresent: false, status: 'Please wait.', message: null, messages: [], admitted: false });
  s = run(
    [
      { type: 'waiting-room-status', callId: CALL, position: 1, providerPresent: true, message: 'Your provider is here.' },
      { type: 'waiting-room-message', message: note },
      { type: 'participant-joined', userId: PEER, videoEnabled: true, audioEnabled: true },
    ],
    s,
  );
  assert.equal(s.waitingRoom.position, 1);
  assert.equal(s.waitingRoom.providerPresent, true);
  assert.deepEqual(s.waitingRoom.message, note);
  assert.deepEqual(s.participants, {}, 'nobody inside is seen from the waiting room');
  s = callReducer(s, { type: 'admitted', callId: CALL });
  assert.equal(s.phase, 'joining');
  assert.equal(s.waitingRoom.admitted, true);
  s = callReducer(s, { type: 'joined', callId: CALL, participants: [PEER, ME], people: [{ userId: PEER, role: 'provider', name: 'Dr. Pat Hale' }], self: ME });
  assert.equal(s.phase, 'connected');
  assert.equal(s.waitingRoom, null);
  assert.equal(s.roles[PEER], 'provider');

  // Sent back: a status while in the call seats us again, with nobody inside.
  s = callReducer(s, { type: 'waiting-room-status', callId: CALL, position: 1, providerPresent: true, message: 'Your provider is here.' });
  assert.equal(s.phase, 'waiting-room');
  assert.deepEqual(s.participants, {});
  assert.equal(s.waitingRoom.admitted, false);
  s = callReducer(s, { type: 'ended', reason: 'Call completed' });
  assert.equal(s.waitingRoom, null);
});

test('waiting-room news for another call, or with no call, changes nothing', () => {
  const idle = initialCallState;
  assert.equal(callReducer(idle, { type: 'waiting-room-status', callId: CALL, position: 1, providerPresent: true, message: 'x' }), idle);
  assert.equal(callReducer(idle, { type: 'admitted', callId: CALL }), idle);
  const s = run([
    { type: 'join', callId: CALL },
    { type: 'waiting', callId: CALL, position: 3 },
  ]);
  const other = 'dddddddd-dddd-4ddd-8ddd-dddddddddddd';
  assert.equal(callReducer(s, { type: 'waiting-room-status', callId: other, position: 1, providerPresent: true, message: 'x' }), s);
  assert.equal(callReducer(s, { type: 'waiting-room-message', message: { callId: other, text: 'x', fromUserId: PEER, timestamp: '' } }), s);
  assert.equal(callReducer(s, { type: 'admitted', callId: other }), s);
});
