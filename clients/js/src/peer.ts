/** A remote participant's peer connection and its perfect-negotiation bookkeeping. */
import type { IceCandidatePayload, UserId } from './events.js';

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
