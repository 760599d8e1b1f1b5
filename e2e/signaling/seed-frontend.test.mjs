// The seed design's own "Frontend Integration Example", transcribed to plain JavaScript with
// nothing changed in how it talks to the server: `io(`${apiUrl}/webrtc`, { auth: { token } })`,
// join-call, offer/answer with targetUserId, ICE candidates *without* targetUserId, and a
// new offer on every participant-joined. Only the browser parts are replaced: a stand-in
// RTCPeerConnection that produces fake SDP and candidates and records what it was given.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, user, createCall, sleep } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

/** Just enough of RTCPeerConnection for the example: fake SDP, two host candidates. */
class FakePeerConnection {
  constructor(name) {
    this.name = name;
    this.remoteDescription = null;
    this.localDescription = null;
    this.remoteCandidates = [];
    this.onicecandidate = null;
  }
  async createOffer() {
    return { type: 'offer', sdp: `v=0\r\no=${this.name} 1 1 IN IP4 127.0.0.1\r\ns=-\r\n` };
  }
  async createAnswer() {
    return { type: 'answer', sdp: `v=0\r\no=${this.name} 2 1 IN IP4 127.0.0.1\r\ns=-\r\n` };
  }
  async setLocalDescription(d) {
    this.localDescription = d;
    // Gathering starts once a local description is set, as in a browser.
    setTimeout(() => {
      for (const n of [1, 2]) {
        this.onicecandidate?.({
          candidate: { candidate: `candidate:${this.name}${n} 1 udp 1 192.0.2.${n} 5000 typ host`, sdpMid: '0', sdpMLineIndex: 0 },
        });
      }
    }, 10);
  }
  async setRemoteDescription(d) {
    this.remoteDescription = d;
  }
  async addIceCandidate(c) {
    if (!this.remoteDescription) throw new Error('candidate before remote description');
    this.remoteCandidates.push(c.candidate);
  }
}

// ---- The seed's WebRTCClient, transcribed (types removed, browser media stubbed). ----
class WebRTCClient {
  constructor(apiUrl, token, name) {
    this.socket = io(`${apiUrl}/webrtc`, {
      auth: { token },
    });
    this.name = name;
    this.setupSocketListeners();
  }

  async initialize() {
    this.peerConnection = new FakePeerConnection(this.name);
    this.peerConnection.onicecandidate = (event) => {
      if (event.candidate) {
        this.socket.emit('ice-candidate', {
          callId: this.currentCallId,
          candidate: event.candidate,
        });
      }
    };
  }

  async joinCall(callId) {
    this.currentCallId = callId;
    this.socket.emit('join-call', {
      callId,
      videoEnabled: true,
      audioEnabled: true,
    });
  }

  async createOffer(targetUserId) {
    const offer = await this.peerConnection.createOffer();
    await this.peerConnection.setLocalDescription(offer);
    this.socket.emit('offer', {
      callId: this.currentCallId,
      offer: offer,
      targetUserId,
    });
  }

  async handleOffer(offer, fromUserId) {
    await this.peerConnection.setRemoteDescription(offer);
    const answer = await this.peerConnection.createAnswer();
    await this.peerConnection.setLocalDescription(answer);
    this.socket.emit('answer', {
      callId: this.currentCallId,
      answer: answer,
      targetUserId: fromUserId,
    });
  }

  setupSocketListeners() {
    this.socket.on('offer', (data) => {
      this.handleOffer(data.offer, data.fromUserId);
    });
    this.socket.on('answer', async (data) => {
      await this.peerConnection.setRemoteDescription(data.answer);
    });
    this.socket.on('ice-candidate', async (data) => {
      await this.peerConnection.addIceCandidate(data.candidate);
    });
    this.socket.on('participant-joined', (data) => {
      this.createOffer(data.userId);
    });
    this.socket.on('quality-warning', (data) => {
      console.warn('Connection quality issue:', data);
    });
  }
}
// ---- end of the transcription ----

async function until(what, check, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

test("the seed's frontend example completes an offer/answer/ICE exchange unchanged", async () => {
  const provider = user('provider');
  const patient = user('patient');
  const callId = await createCall(server, provider, patient);

  const doctor = new WebRTCClient(server.url, provider.token, 'doctor');
  const patientApp = new WebRTCClient(server.url, patient.token, 'patient');
  const errors = [];
  for (const c of [doctor, patientApp]) c.socket.on('error', (e) => errors.push(e));
  try {
    await doctor.initialize();
    await patientApp.initialize();
    await until('both sockets connect', () => doctor.socket.connected && patientApp.socket.connected);

    await doctor.joinCall(callId);
    await sleep(200);
    await patientApp.joinCall(callId);

    // The doctor hears participant-joined and offers; the patient answers; both trickle ICE.
    await until('the doctor has the answer', () => doctor.peerConnection.remoteDescription?.type === 'answer');
    assert.equal(patientApp.peerConnection.remoteDescription.type, 'offer');
    assert.match(patientApp.peerConnection.remoteDescription.sdp, /o=doctor /);
    assert.match(doctor.peerConnection.remoteDescription.sdp, /o=patient /);
    await until('the candidates crossed', () =>
      doctor.peerConnection.remoteCandidates.length === 2 && patientApp.peerConnection.remoteCandidates.length === 2,
    );
    assert.deepEqual(doctor.peerConnection.remoteCandidates.map((c) => c.split(' ')[0]), ['candidate:patient1', 'candidate:patient2']);
    assert.deepEqual(patientApp.peerConnection.remoteCandidates.map((c) => c.split(' ')[0]), ['candidate:doctor1', 'candidate:doctor2']);
    assert.deepEqual(errors, []);
  } finally {
    doctor.socket.close();
    patientApp.socket.close();
  }
});
