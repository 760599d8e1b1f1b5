/**
 * The webhook events vytalcall POSTs to other systems (docs/webhooks.md), as TypeScript
 * types for receivers written in TypeScript. Verify a delivery with any Standard Webhooks
 * library first (e.g. npm `standardwebhooks`: `new Webhook(secret).verify(body, headers)`),
 * then narrow the result on `type`:
 *
 * ```ts
 * const event = wh.verify(body, headers) as WebhookEvent;
 * if (event.type === 'call.ended') console.log(event.data.callId, event.data.reason);
 * ```
 *
 * Bodies carry ids, times, states and reasons only; never names or other PHI.
 */

/** Every event type, in the order the server's list has them. */
export const WEBHOOK_EVENT_TYPES = [
  'call.created',
  'call.ringing',
  'call.answered',
  'call.ended',
  'call.missed',
  'call.cancelled',
  'call.failed',
  'participant.joined',
  'participant.left',
  'recording.started',
  'recording.stopped',
  'recording.ready',
  'recording.failed',
  'recording.deleted',
  'consent.recorded',
  'waiting-room.entered',
  'waiting-room.admitted',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The fields every event's `data` has. */
export interface WebhookEventBase {
  callId: string;
  /** Who did it; null when the server did (ring time-out, recovery, retention). */
  actorId: string | null;
  actorRole: 'patient' | 'provider' | 'admin' | null;
  /** RFC 3339 UTC with milliseconds. */
  occurredAt: string;
}

export type WebhookCallState = 'scheduled' | 'ringing' | 'active' | 'ended' | 'cancelled' | 'missed' | 'failed';

export interface CallCreatedData extends WebhookEventBase {
  status: 'ringing' | 'scheduled';
  callType: 'video' | 'audio';
}

export interface CallTransitionData extends WebhookEventBase {
  /** The state before; absent for `call.ringing` at creation. */
  from?: WebhookCallState;
  status: WebhookCallState;
  /** For ended, missed, cancelled and failed calls. */
  reason?: string;
}

export interface ParticipantData extends WebhookEventBase {
  participantId: string;
  userId?: string;
  /** participant.joined: the call's state when they joined. */
  callStatus?: WebhookCallState;
  /** participant.left: `left`, `disconnected`, ... */
  reason?: string;
}

export interface RecordingStartedData extends WebhookEventBase {
  recordingId: string;
  participantIds?: string[];
  consentMethod?: string;
}

export interface RecordingStatusData extends WebhookEventBase {
  recordingId: string;
  status?: 'completed' | 'partial' | 'failed';
  durationMs?: number | null;
  sizeBytes?: number | null;
}

export interface RecordingFailedData extends WebhookEventBase {
  recordingId: string;
  stage?: string;
  status?: string;
}

export interface RecordingDeletedData extends WebhookEventBase {
  recordingId: string;
  reason?: string;
}

export interface ConsentRecordedData extends WebhookEventBase {
  /** Whose consent. */
  userId: string;
  consented: boolean;
  method: string;
  recordingId?: string;
}

export interface WaitingRoomEnteredData extends WebhookEventBase {
  /** Who sat down in the waiting room (once per person, not per device). */
  userId: string;
  /** Their place in the queue, from 1. */
  position: number;
}

export interface WaitingRoomAdmittedData extends WebhookEventBase {
  /** Who was let in; `actorId` is the provider who admitted them. */
  userId: string;
}

/** `data` of each event type. */
export interface WebhookEventDataMap {
  'call.created': CallCreatedData;
  'call.ringing': CallTransitionData;
  'call.answered': CallTransitionData;
  'call.ended': CallTransitionData;
  'call.missed': CallTransitionData;
  'call.cancelled': CallTransitionData;
  'call.failed': CallTransitionData;
  'participant.joined': ParticipantData;
  'participant.left': ParticipantData;
  'recording.started': RecordingStartedData;
  'recording.stopped': RecordingStatusData;
  'recording.ready': RecordingStatusData;
  'recording.failed': RecordingFailedData;
  'recording.deleted': RecordingDeletedData;
  'consent.recorded': ConsentRecordedData;
  'waiting-room.entered': WaitingRoomEnteredData;
  'waiting-room.admitted': WaitingRoomAdmittedData;
}

/** A verified webhook body, narrowed by `type`. */
export type WebhookEvent = {
  [K in WebhookEventType]: {
    type: K;
    /** When it happened (RFC 3339 UTC). */
    timestamp: string;
    data: WebhookEventDataMap[K];
  };
}[WebhookEventType];

/** Whether `name` is an event type this SDK knows. */
export function isWebhookEventType(name: string): name is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(name);
}
