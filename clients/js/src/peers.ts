// One `RTCPeerConnection` per remote participant and its perfect negotiation: creating and
// closing connections, holding our offer for a newcomer's, applying their descriptions and
// candidates, and bringing a connection back (ICE restart, then a fresh connection).
import type { IceCandidatePayload, UserId } from './events.js';
import { isPolite, safeErrorText, sdpFingerprint } from './util.js';
import type { ClientCore } from './core.js';

/** A remote participant's peer connection and its perfect-negotiation bookkeeping. */
export interface Peer {
  userId: UserId;
  pc: RTCPeerConnection;
  polite: boolean;
  makingOffer: boolean;
  ignoreOffer: boolean;
  settingRemoteAnswerPending: boolean;
  remoteFingerprint: string | null;
  /** Candidates that arrived while there was no remote description to add them to. */
  pendingCandidates: IceCandidatePayload[];
  /** Restarts ICE when negotiation is done but the connection does not come up. */
  connectTimer: ReturnType<typeof setTimeout> | null;
  /** Failed attempts to bring the connection up (ICE restart first, then a fresh connection). */
  connectAttempts: number;
  /** Waiting for the newcomer's offer: our own offer is held back (see awaitOffer). */
  holdOffer: boolean;
  holdTimer: ReturnType<typeof setTimeout> | null;
  /** negotiationneeded fired while held. */
  negotiationPending: boolean;
  stream: MediaStream | null;
}

/** What a new connection sends: our local stream, and which of its video tracks (if any). */
export interface OutgoingMedia {
  readonly stream: MediaStream | null;
  outgoingVideo(): MediaStreamTrack | null;
}

export class Peers {
  private peers = new Map<UserId, Peer>();
  private iceTimers = new Map<UserId, ReturnType<typeof setTimeout>>();

  constructor(
    private readonly core: ClientCore,
    private readonly iceServers: () => RTCIceServer[],
    private readonly media: OutgoingMedia,
  ) {}

  get(userId: UserId): Peer | undefined {
    return this.peers.get(userId);
  }

  /** Every participant's connection. */
  connections(): RTCPeerConnection[] {
    return [...this.peers.values()].map((p) => p.pc);
  }

  closeAll() {
    for (const id of [...this.peers.keys()]) this.close(id);
  }

  /**
   * After `join-call` or `reconnect-call`: whoever is no longer in the call (gone while we
   * were away) loses their connection; to everyone else without one we connect (and offer).
   */
  reconcile(participants: UserId[]) {
    for (const id of [...this.peers.keys()]) if (!participants.includes(id)) this.close(id);
    for (const id of participants) {
      if (id !== this.core.userId && !this.peers.has(id)) this.create(id);
    }
  }

  restartIce() {
    for (const peer of this.peers.values()) peer.pc.restartIce();
  }

  /** The device came back online (new network): look for a new path at once. */
  private readonly onOnline = () => {
    for (const peer of this.peers.values()) if (peer.pc.connectionState !== 'connected') peer.pc.restartIce();
  };

  watchNetwork(on: boolean) {
    const w = globalThis as { addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener };
    if (typeof w.addEventListener !== 'function' || typeof w.removeEventListener !== 'function') return;
    if (on) w.addEventListener('online', this.onOnline);
    else w.removeEventListener('online', this.onOnline);
  }

  /**
   * Connect to a newcomer, who offers to everyone in the call as soon as it has joined (see
   * reconcile). We create our connection at once (its candidate pool starts gathering) but
   * hold our own offer for up to `offerWaitMs` and answer theirs: one offer, no collision,
   * and measured no slower than crossing offers (docs/benchmarks/browser-setup.md). If no
   * offer comes (a client that waits to be offered to, as in the seed's example), we offer.
   */
  awaitOffer(userId: UserId) {
    const wait = this.core.opts.offerWaitMs ?? 1_500;
    const peer = this.create(userId, { holdOffer: wait > 0 });
    if (wait > 0) peer.holdTimer = setTimeout(() => this.releaseOffer(peer), wait);
  }

  /** Stop holding our offer; make it now if negotiation is (still) needed. */
  private releaseOffer(peer: Peer) {
    if (peer.holdTimer) clearTimeout(peer.holdTimer);
    peer.holdTimer = null;
    if (!peer.holdOffer) return;
    peer.holdOffer = false;
    if (!peer.negotiationPending || this.peers.get(peer.userId) !== peer) return;
    peer.negotiationPending = false;
    // Negotiation is still needed if a sender of ours is not in the agreed session yet.
    const unsent = peer.pc.getTransceivers().some((t) => !t.mid && t.sender.track);
    if (!peer.pc.remoteDescription || unsent) void this.negotiate(peer);
  }

  /** Make and send an offer (perfect negotiation: `makingOffer` marks the window of a collision). */
  private async negotiate(peer: Peer) {
    const pc = peer.pc;
    try {
      peer.makingOffer = true;
      await pc.setLocalDescription();
      const d = pc.localDescription;
      if (!d || this.peers.get(peer.userId) !== peer) return;
      this.core.send('offer', { callId: this.core.state.callId, offer: { type: d.type, sdp: d.sdp }, targetUserId: peer.userId });
    } catch (err) {
      console.warn(`vytalcall: negotiation failed: ${safeErrorText(err)}`);
    } finally {
      peer.makingOffer = false;
    }
  }

  create(userId: UserId, options: { holdOffer?: boolean } = {}): Peer {
    const Ctor = this.core.opts.RTCPeerConnection ?? RTCPeerConnection;
    // A candidate pool: gathering starts now, not at the first local description, so a side
    // that waits for an offer answers with candidates ready.
    const pc = new Ctor({ iceServers: this.iceServers(), iceCandidatePoolSize: 1 });
    const peer: Peer = {
      userId,
      pc,
      polite: isPolite(this.core.userId, userId),
      makingOffer: false,
      ignoreOffer: false,
      settingRemoteAnswerPending: false,
      remoteFingerprint: null,
      pendingCandidates: [],
      connectTimer: null,
      connectAttempts: 0,
      holdOffer: options.holdOffer ?? false,
      holdTimer: null,
      negotiationPending: false,
      stream: null,
    };
    this.peers.set(userId, peer);
    const callId = this.core.state.callId;

    pc.onnegotiationneeded = () => {
      if (peer.holdOffer) {
        peer.negotiationPending = true;
        return;
      }
      void this.negotiate(peer);
    };
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate) return;
      const c: IceCandidatePayload = {
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid,
        sdpMLineIndex: candidate.sdpMLineIndex,
      };
      if (candidate.usernameFragment) c.usernameFragment = candidate.usernameFragment;
      this.core.send('ice-candidate', { callId, candidate: c, targetUserId: userId });
    };
    pc.ontrack = ({ track, streams }) => {
      const stream = streams[0] ?? peer.stream ?? new MediaStream();
      if (!streams[0] && !stream.getTracks().includes(track)) stream.addTrack(track);
      if (peer.stream !== stream) {
        peer.stream = stream;
      }
      this.core.emit('remote-stream', { userId, stream });
    };
    pc.onsignalingstatechange = () => {
      // Negotiation done: the connection should come up within seconds. If it does not (a
      // lost candidate, a path that never worked), restart ICE rather than stay dark.
      if (pc.signalingState !== 'stable' || !pc.remoteDescription) return;
      if (peer.connectTimer) clearTimeout(peer.connectTimer);
      peer.connectTimer = setTimeout(() => {
        peer.connectTimer = null;
        const c = pc.connectionState;
        if (this.peers.get(userId) !== peer || c === 'connected' || c === 'closed' || !this.core.socket?.connected) return;
        peer.connectAttempts += 1;
        if (peer.connectAttempts === 1) {
          pc.restartIce();
        } else {
          // Still dark after an ICE restart: start over with a fresh connection. Its offer
          // carries a new DTLS fingerprint, so the other side replaces its connection too.
          this.close(userId);
          this.create(userId);
        }
        // The impolite side acts first; the polite one only if that did not help (both at
        // once would make their offers cross).
      }, (this.core.opts.connectTimeoutMs ?? 6_000) * (peer.polite ? 2 : 1));
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') peer.connectAttempts = 0;
    };
    pc.oniceconnectionstatechange = () => {
      const state = pc.iceConnectionState;
      const timer = this.iceTimers.get(userId);
      if (timer) clearTimeout(timer);
      this.iceTimers.delete(userId);
      if (state === 'failed') {
        pc.restartIce();
      } else if (state === 'disconnected') {
        // A network change: the path may come back by itself; if not soon, look for a new one
        // (long before the browser would declare it failed).
        const t = setTimeout(() => {
          this.iceTimers.delete(userId);
          if (pc.iceConnectionState === 'disconnected' && this.core.socket?.connected) pc.restartIce();
        }, this.core.opts.iceDisconnectedRestartMs ?? 4_000);
        this.iceTimers.set(userId, t);
      }
    };

    const stream = this.media.stream;
    if (stream) {
      for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
      const video = this.media.outgoingVideo();
      if (video) pc.addTrack(video, stream);
    }
    return peer;
  }

  close(userId: UserId) {
    const peer = this.peers.get(userId);
    if (!peer) return;
    if (peer.holdTimer) clearTimeout(peer.holdTimer);
    this.peers.delete(userId);
    const timer = this.iceTimers.get(userId);
    if (timer) clearTimeout(timer);
    this.iceTimers.delete(userId);
    if (peer.connectTimer) clearTimeout(peer.connectTimer);
    peer.pc.onnegotiationneeded = null;
    peer.pc.oniceconnectionstatechange = null;
    peer.pc.onsignalingstatechange = null;
    peer.pc.onconnectionstatechange = null;
    peer.pc.onicecandidate = null;
    peer.pc.ontrack = null;
    peer.pc.close();
    this.core.emit('remote-stream-removed', { userId });
  }

  /**
   * An offer or answer from `from` (perfect negotiation): the impolite side ignores a colliding
   * offer, the polite side answers it; a new DTLS fingerprint means a new connection there.
   */
  async onDescription(callId: string, from: UserId, description: RTCSessionDescriptionInit) {
    if (callId !== this.core.state.callId || from === this.core.userId) return;
    const isOffer = description.type === 'offer';
    let peer = this.peers.get(from);
    if (!peer) {
      if (!isOffer) return; // an answer to a connection we no longer have
      peer = this.create(from, { holdOffer: true }); // answer first, offer later if needed
    }
    // A description from a different DTLS identity is a new peer connection on the other side
    // (a reloaded page): start over with a fresh one here too.
    const fp = sdpFingerprint(description.sdp);
    if (peer.remoteFingerprint && fp && fp !== peer.remoteFingerprint) {
      this.close(from);
      if (!isOffer) {
        this.create(from); // our fresh connection offers by itself
        return;
      }
      peer = this.create(from, { holdOffer: true });
    }
    let pc = peer.pc;
    try {
      const readyForOffer = !peer.makingOffer && (pc.signalingState === 'stable' || peer.settingRemoteAnswerPending);
      const collision = isOffer && !readyForOffer;
      peer.ignoreOffer = !peer.polite && collision;
      if (peer.ignoreOffer) return;
      if (collision && !pc.remoteDescription) {
        // Polite, and our first offer crossed theirs. Rather than rolling our offer back (after
        // which Chrome now and then never finishes gathering and the call stays dark), drop
        // this connection, which has carried nothing yet, and answer on a fresh one.
        this.close(from);
        peer = this.create(from, { holdOffer: true });
        pc = peer.pc;
      }
      peer.settingRemoteAnswerPending = description.type === 'answer';
      await pc.setRemoteDescription(description); // rolls back our own offer when polite
      peer.settingRemoteAnswerPending = false;
      if (fp) peer.remoteFingerprint = fp;
      await this.flushCandidates(peer);
      if (description.type === 'offer') {
        await pc.setLocalDescription();
        const d = pc.localDescription!;
        this.core.send('answer', { callId, answer: { type: d.type, sdp: d.sdp }, targetUserId: from });
        if (peer.holdOffer) this.releaseOffer(peer);
      }
    } catch (err) {
      peer.settingRemoteAnswerPending = false;
      console.warn(`vytalcall: could not apply remote description: ${safeErrorText(err)}`);
    }
  }

  /** A trickled candidate from `from` (kept until there is a remote description to add it to). */
  async onCandidate(callId: string, from: UserId, candidate: IceCandidatePayload) {
    if (callId !== this.core.state.callId) return;
    const peer = this.peers.get(from);
    if (!peer) return;
    if (!peer.pc.remoteDescription) {
      // Typically the polite side's candidates for the offer it then rolled back while we (the
      // impolite side) ignored that offer. Its answer to our offer may reuse the same ICE
      // transport, so these candidates are then the only ones it ever sends: keep them until
      // a remote description arrives instead of dropping them (see flushCandidates).
      if (peer.pendingCandidates.length < 200) peer.pendingCandidates.push(candidate);
      return;
    }
    try {
      await peer.pc.addIceCandidate(candidate as RTCIceCandidateInit);
    } catch (err) {
      if (!peer.ignoreOffer) console.warn(`vytalcall: could not add ICE candidate: ${safeErrorText(err)}`);
    }
  }

  /** Add the candidates kept while there was no remote description; stale ones fail quietly. */
  private async flushCandidates(peer: Peer) {
    const pending = peer.pendingCandidates;
    peer.pendingCandidates = [];
    for (const c of pending) {
      try {
        await peer.pc.addIceCandidate(c as RTCIceCandidateInit);
      } catch {
        /* a candidate of a description that was rolled back or replaced (other ICE ufrag) */
      }
    }
  }
}
