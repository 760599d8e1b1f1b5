// Our local media: the stream (given or from getUserMedia), the camera and screen tracks,
// mute and camera switches, screen share and audio-only. Changes reach every sending
// connection through `replaceTrack` and the others through `update-media`.
import type { ClientCore } from './core.js';
import type { OutgoingMedia } from './peers.js';

export class LocalMedia implements OutgoingMedia {
  stream: MediaStream | null = null;
  private cameraTrack: MediaStreamTrack | null = null;
  private screenTrack: MediaStreamTrack | null = null;

  /** `connections()`: every connection that sends our media (participants and the recorder). */
  constructor(
    private readonly core: ClientCore,
    private readonly connections: () => RTCPeerConnection[],
  ) {}

  /** The video track we send: the screen while shared, else the camera unless audio-only. */
  outgoingVideo(): MediaStreamTrack | null {
    return this.screenTrack ?? (this.core.state.audioOnly ? null : this.cameraTrack);
  }

  /** Use this stream as local media (otherwise `join` asks for camera and microphone). */
  setStream(stream: MediaStream) {
    this.stream = stream;
    this.cameraTrack = stream.getVideoTracks()[0] ?? null;
    this.core.emit('local-stream', stream);
  }

  async ensure(video: boolean, audio: boolean) {
    if (this.stream) return;
    const gum = this.core.opts.getUserMedia ?? ((c) => navigator.mediaDevices.getUserMedia(c));
    this.setStream(await gum({ video, audio }));
  }

  applyTrackEnabled(video?: boolean, audio?: boolean) {
    if (!this.stream) return;
    if (audio !== undefined) for (const t of this.stream.getAudioTracks()) t.enabled = audio;
    if (video !== undefined && this.cameraTrack) this.cameraTrack.enabled = video;
  }

  private updateMedia(change: { videoEnabled?: boolean; audioEnabled?: boolean; screenShareEnabled?: boolean }) {
    this.core.dispatch({ type: 'local-media', ...change });
    const callId = this.core.state.callId;
    // Waiting outside the call, nobody is told (the change is restated once we are admitted).
    const phase = this.core.state.phase;
    if (callId && phase !== 'ended' && phase !== 'waiting-room') this.core.send('update-media', { callId, ...change });
  }

  /** Mute or unmute the microphone; the others learn it through `update-media`. */
  setMuted(muted: boolean) {
    this.applyTrackEnabled(undefined, !muted);
    this.updateMedia({ audioEnabled: !muted });
  }

  /** Turn the camera off or on (the track keeps its sender; frames go black). */
  setCameraEnabled(enabled: boolean) {
    if (this.core.state.audioOnly && enabled) return;
    this.applyTrackEnabled(enabled, undefined);
    this.updateMedia({ videoEnabled: enabled });
  }

  private videoSenders(): RTCRtpSender[] {
    const out: RTCRtpSender[] = [];
    for (const pc of this.connections()) {
      for (const s of pc.getSenders()) if (s.track?.kind === 'video') out.push(s);
    }
    return out;
  }

  /** Share the screen in place of the camera (same sender: no renegotiation). */
  async startScreenShare(): Promise<void> {
    if (this.screenTrack || this.core.state.audioOnly) return;
    const gdm = this.core.opts.getDisplayMedia ?? ((c) => navigator.mediaDevices.getDisplayMedia(c));
    const display = await gdm({ video: true, audio: false });
    const track = display.getVideoTracks()[0];
    if (!track) throw new Error('screen share: no video track');
    this.screenTrack = track;
    track.addEventListener('ended', () => void this.stopScreenShare());
    await Promise.all(this.videoSenders().map((s) => s.replaceTrack(track)));
    this.updateMedia({ screenShareEnabled: true });
  }

  /** Back to the camera. */
  async stopScreenShare(): Promise<void> {
    const track = this.screenTrack;
    if (!track) return;
    this.screenTrack = null;
    const camera = this.core.state.audioOnly ? null : this.cameraTrack;
    await Promise.all(
      this.connections().flatMap((pc) => pc.getSenders().filter((s) => s.track === track).map((s) => s.replaceTrack(camera))),
    );
    track.stop();
    this.updateMedia({ screenShareEnabled: false });
  }

  /** Drop video for the rest of the call (camera released; audio stays). */
  async switchToAudioOnly(): Promise<void> {
    if (this.core.state.audioOnly) return;
    await this.stopScreenShare();
    await Promise.all(this.videoSenders().map((s) => s.replaceTrack(null)));
    const camera = this.cameraTrack;
    if (camera) {
      camera.stop();
      this.stream?.removeTrack(camera);
      this.cameraTrack = null;
    }
    this.core.dispatch({ type: 'audio-only' });
    const callId = this.core.state.callId;
    if (callId) this.core.send('update-media', { callId, videoEnabled: false, screenShareEnabled: false });
  }

  /** Stop the screen share and every local track (the call is over for us). */
  release() {
    this.screenTrack?.stop();
    this.screenTrack = null;
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
    this.cameraTrack = null;
  }
}
