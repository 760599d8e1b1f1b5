/**
 * The media path to the server's recording peer: a send-only connection (ICE-lite on the
 * server, one host candidate, no trickle), offered once with all our candidates gathered.
 * The client owns which recording it is for and when it closes; this module only builds and
 * negotiates the connection.
 */

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
