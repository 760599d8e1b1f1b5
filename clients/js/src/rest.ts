// The REST API under `/webrtc`: one authenticated JSON request (`rest`), the ICE servers
// (cached), and the call and recording endpoints the client offers as methods. Only the
// state changes a reply implies (a declined call, our own attestation) are dispatched here.
import type { Call, CallDetails, CallPage, IceServersResponse, Person, RecentPatients } from './events.js';
import { RestError } from './errors.js';
import type { EncounterSearch, FhirBundle, FhirEncounter, InteractiveTimeReport } from './integrations.js';
import type { ClientCore } from './core.js';

export class RestApi {
  private iceServers: RTCIceServer[] | null = null;

  constructor(private readonly core: ClientCore) {}

  /** The ICE servers fetched last (none before the first `fetchIceServers`). */
  get knownIceServers(): RTCIceServer[] {
    return this.iceServers ?? [];
  }

  /** `GET /webrtc/ice-servers` (cached for the client's lifetime unless `refresh`). */
  async fetchIceServers(refresh = false): Promise<RTCIceServer[]> {
    if (this.iceServers && !refresh) return this.iceServers;
    const f = this.core.opts.fetch ?? fetch;
    const res = await f(`${this.core.apiUrl}/webrtc/ice-servers`, {
      headers: { authorization: `Bearer ${this.core.token}`, accept: 'application/json' },
    });
    if (!res.ok) throw new Error(`ice-servers: HTTP ${res.status}`);
    const body = (await res.json()) as IceServersResponse;
    this.iceServers = body.iceServers.map((s) => ({ ...s }));
    return this.iceServers;
  }

  /** An authenticated JSON request to the REST API under `/webrtc`. */
  rest<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    return this.request<T>(method, `/webrtc${path}`, 'application/json', body);
  }

  /** An authenticated read of the FHIR view under `/fhir` (`application/fhir+json`). */
  fhir<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', `/fhir${path}`, 'application/fhir+json');
  }

  private async request<T>(method: string, path: string, accept: string, body?: unknown): Promise<T> {
    const f = this.core.opts.fetch ?? fetch;
    const headers: Record<string, string> = { authorization: `Bearer ${this.core.token}`, accept };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await f(`${this.core.apiUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null; // not JSON (a proxy's error page): reported by status below
    }
    if (!res.ok) throw new RestError(method, path, res.status, data);
    if (data === null && text) throw new RestError(method, path, res.status, null, 'response is not JSON');
    return data as T;
  }

  /** `GET /webrtc/reports/interactive-time?month=YYYY-MM`: minutes with a provider per patient, and the CPT codes reached. */
  interactiveTime(month: string) {
    return this.rest<InteractiveTimeReport>('GET', `/reports/interactive-time?month=${encodeURIComponent(month)}`);
  }

  /** `GET /fhir/Encounter/:id`: one call as a FHIR R4 Encounter. */
  fhirEncounter(callId: string) {
    return this.fhir<FhirEncounter>(`/Encounter/${encodeURIComponent(callId)}`);
  }

  /** `GET /fhir/Encounter?…`: a searchset Bundle of Encounters. */
  fhirEncounters(search: EncounterSearch) {
    const qs = new URLSearchParams();
    for (const [key, value] of Object.entries(search)) {
      for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) qs.append(key, String(v));
    }
    return this.fhir<FhirBundle<FhirEncounter>>(`/Encounter?${qs.toString()}`);
  }

  /** `GET /webrtc/calls/:id`: the call with its participants (device records). */
  getCall(callId: string) {
    return this.rest<CallDetails>('GET', `/calls/${encodeURIComponent(callId)}`);
  }

  /** `POST /webrtc/calls/:id/recording-consent` (the state and the recorder: see `consent.ts`). */
  async postRecordingConsent(callId: string, consented: boolean): Promise<void> {
    await this.rest('POST', `/calls/${encodeURIComponent(callId)}/recording-consent`, { consented });
  }

  /**
   * `POST /webrtc/calls/:id/record` with ourselves among `consentedParticipants` is our own
   * yes, so our media may then go to the recorder.
   */
  private noteOwnAttestation(callId: string, body: { consentedParticipants?: string[] }) {
    if (this.core.state.callId === callId && body.consentedParticipants?.includes(this.core.userId)) {
      this.core.dispatch({ type: 'consent-given', consented: true });
    }
  }

  /** `POST /webrtc/calls/:id/record` (providers): starts recording; every participant must have consented. */
  async startRecording(callId: string, body: { consentObtained: true; consentedParticipants?: string[]; consentMethod?: string } = { consentObtained: true }) {
    const started = await this.rest<{ id: string; status: string } & Record<string, unknown>>('POST', `/calls/${encodeURIComponent(callId)}/record`, body);
    this.noteOwnAttestation(callId, body);
    return started;
  }

  /** `POST /webrtc/calls/:id/recordings/:rid/stop` (providers). */
  stopRecording(callId: string, recordingId: string) {
    return this.rest<Record<string, unknown>>(
      'POST',
      `/calls/${encodeURIComponent(callId)}/recordings/${encodeURIComponent(recordingId)}/stop`,
      {},
    );
  }

  /** `POST /webrtc/calls/:id/recordings/:rid/offer`: our complete offer to the recording peer. */
  offerRecording(callId: string, recordingId: string, offer: { type: RTCSdpType; sdp: string }) {
    return this.rest<RTCSessionDescriptionInit>(
      'POST',
      `/calls/${encodeURIComponent(callId)}/recordings/${encodeURIComponent(recordingId)}/offer`,
      offer,
    );
  }

  /** `POST /webrtc/calls`: an immediate call rings the other members. */
  createCall(body: { patientId?: string; providerId?: string; type?: 'video' | 'audio'; scheduledAt?: string; additionalProviderIds?: string[]; waitingRoom?: boolean }) {
    return this.rest<Call>('POST', '/calls', body);
  }

  /** `GET /webrtc/calls` (filters as query parameters). */
  listCalls(query: Record<string, string | number> = {}) {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
    return this.rest<CallPage>('GET', `/calls${qs ? `?${qs}` : ''}`);
  }

  /** `GET /webrtc/patients/recent` (providers and admins): patients to call, most recent first. */
  recentPatients(limit = 20) {
    return this.rest<RecentPatients>('GET', `/patients/recent?limit=${encodeURIComponent(String(limit))}`);
  }

  /**
   * `GET /webrtc/people/:id` (providers and admins): someone the server has met, or `null`
   * for an id nobody ever signed in with (404), so a pasted id can be checked before ringing.
   */
  async findPerson(id: string): Promise<Person | null> {
    try {
      return await this.rest<Person>('GET', `/people/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof RestError && err.status === 404) return null;
      throw err;
    }
  }

  /** `POST /webrtc/calls/:id/cancel`: by the callee of a ringing call, this declines it. */
  async decline(callId: string): Promise<void> {
    await this.rest('POST', `/calls/${encodeURIComponent(callId)}/cancel`, {});
    if (this.core.state.callId === callId) this.core.dispatch({ type: 'ended', reason: 'declined' });
  }

  /** `POST /webrtc/calls/:id/end`: ends the call for everyone. */
  async endCall(callId: string): Promise<void> {
    await this.rest('POST', `/calls/${encodeURIComponent(callId)}/end`, {});
  }
}
