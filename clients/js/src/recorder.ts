// Our media to the server's recording peer: whether it may go there (our own consent, asking
// for it) and the send-only connection that carries it (ICE-lite on the server, one host
// candidate, no trickle), offered once with all our candidates gathered. `RecorderLink` owns
// which recording the connection is for and when it closes; the functions below only build
// and negotiate it.
import { RestError } from './errors.js';
import type { ClientCore } from './core.js';
import type { RestApi } from './rest.js';
import type { LocalMedia } from './media.js';

/** Resolves when ICE gathering is complete, or after `ms` (with the candidates found so far). */
export function gatheringComplete(pc: RTCPeerConnection, ms: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/** A send-only connection carrying our audio and (unless audio-only) our camera or screen. */
export function recorderConnection(
  Ctor: typeof RTCPeerConnection,
  stream: MediaStream,
  video: MediaStreamTrack | null,
  audioOnly: boolean,
): RTCPeerConnection {
  const pc = new Ctor({ iceServers: [] });
  const audio = stream.getAudioTracks()[0];
  if (audio) pc.addTransceiver(audio, { direction: 'sendonly', streams: [stream] });
  else pc.addTransceiver('audio', { direction: 'sendonly' });
  if (!audioOnly || video) pc.addTransceiver(video ?? 'video', { direction: 'sendonly', streams: [stream] });
  return pc;
}

/**
 * Gather our candidates, `post` the complete offer, apply the answer. `current()` says whether
 * the connection is still the one wanted (a newer recording or a close replaces it meanwhile).
 */
export async function offerToRecorder(
  pc: RTCPeerConnection,
  post: (offer: { type: RTCSdpType; sdp: string }) => Promise<RTCSessionDescriptionInit>,
  current: () => boolean,
): Promise<void> {
  await pc.setLocalDescription();
  await gatheringComplete(pc, 3_000);
  const offer = pc.localDescription;
  if (!offer || !current()) return;
  const answer = await post({ type: offer.type, sdp: offer.sdp });
  if (!current()) return;
  await pc.setRemoteDescription(answer);
}

/** The connection to the recording peer of the call's running recording, on our own yes. */
export class RecorderLink {
  private recorder: { recordingId: string; pc: RTCPeerConnection } | null = null;

  constructor(
    private readonly core: ClientCore,
    private readonly api: RestApi,
    private readonly media: LocalMedia,
  ) {}

  /** The recorder connection, while there is one (it sends our media too). */
  get connection(): RTCPeerConnection | null {
    return this.recorder?.pc ?? null;
  }

  /** `POST /webrtc/calls/:id/recording-consent`: our own consent (or refusal) to recording. */
  async setConsent(callId: string, consented: boolean): Promise<void> {
    await this.api.postRecordingConsent(callId, consented);
    if (this.core.state.callId === callId) this.core.dispatch({ type: 'consent-given', consented });
    const rec = this.core.state.recording;
    if (consented && rec && this.core.state.callId === callId && this.core.isInCall()) void this.connect(rec.recordingId);
    if (!consented) this.close();
  }

  /**
   * Our own latest word on recording in this call: what we answered here, or else what the
   * call's consent history holds in our own name (a provider's attestation about us is not
   * our word). `null`: we have not said.
   */
  private async ownConsent(callId: string): Promise<boolean | null> {
    if (this.core.state.recordingConsent !== null) return this.core.state.recordingConsent;
    try {
      const call = await this.api.getCall(callId);
      const own = (call.consents ?? [])
        .filter((c) => c.userId === this.core.userId && c.recordedBy === this.core.userId)
        .sort((a, b) => String(a.recordedAt).localeCompare(String(b.recordedAt)));
      return own.length ? own[own.length - 1].consented : null;
    } catch {
      return null;
    }
  }

  /**
   * A recording runs: our media goes to it only on our own yes. Without our word the
   * application is asked (`consent-requested`, shown as a question); after our no nothing
   * is sent, and `setRecordingConsent(callId, true)` changes that.
   */
  async recordIfConsented(recordingId: string): Promise<void> {
    const callId = this.core.state.callId;
    if (!callId || !this.core.isInCall() || this.core.opts.sendToRecorder === false) return;
    const own = await this.ownConsent(callId);
    const state = this.core.state;
    if (state.callId !== callId || state.recording?.recordingId !== recordingId) return;
    if (own === true) {
      if (this.core.state.recordingConsent === null) this.core.dispatch({ type: 'consent-given', consented: true });
      if (this.core.isInCall()) void this.connect(recordingId);
    } else if (own === false) {
      if (this.core.state.recordingConsent === null) this.core.dispatch({ type: 'consent-given', consented: false });
    } else if (this.core.state.consentRequested !== recordingId) {
      this.core.dispatch({ type: 'consent-requested', recordingId });
      this.core.emit('recording-consent-requested', { callId, recordingId });
    }
  }

  /**
   * Send our media to the server's recording peer (ICE-lite, one host candidate, no trickle):
   * gather our candidates, POST the complete offer, apply the answer. Called only after our
   * own yes ([`recordIfConsented`]); a 409 means the server has no consent of ours on record
   * and asks through `recording-consent-requested`.
   */
  private async connect(recordingId: string): Promise<void> {
    if (this.core.opts.sendToRecorder === false) return;
    if (this.recorder?.recordingId === recordingId) return;
    this.close();
    const callId = this.core.state.callId;
    const stream = this.media.stream;
    if (!callId || !stream) return;
    const audioOnly = this.core.state.audioOnly;
    const pc = recorderConnection(this.core.opts.RTCPeerConnection ?? RTCPeerConnection, stream, this.media.outgoingVideo(), audioOnly);
    this.recorder = { recordingId, pc };
    pc.onconnectionstatechange = () => {
      if (this.recorder?.pc !== pc) return;
      if (pc.connectionState === 'connected') this.core.emit('recorder-connection', { recordingId, connected: true });
      if (pc.connectionState === 'failed') this.core.emit('recorder-connection', { recordingId, connected: false, error: 'connection failed' });
    };
    try {
      await offerToRecorder(pc, (offer) => this.api.offerRecording(callId, recordingId, offer), () => this.recorder?.pc === pc);
    } catch (err) {
      if (this.recorder?.pc === pc) this.close();
      const consent = err instanceof RestError && err.status === 409;
      this.core.emit('recorder-connection', { recordingId, connected: false, error: consent ? 'consent-required' : (err as Error).message });
    }
  }

  close() {
    const rec = this.recorder;
    if (!rec) return;
    this.recorder = null;
    rec.pc.onconnectionstatechange = null;
    rec.pc.close();
    this.core.emit('recorder-connection', { recordingId: rec.recordingId, connected: false });
  }
}
