// What the platform reads besides calls: the interactive-time report for RPM billing
// (`GET /webrtc/reports/interactive-time`) and the read-only FHIR R4 view of visits
// (`/fhir/...`). Shapes only; `rest.ts` fetches them.

/** A CPT code a patient's monthly interactive time reaches: `99457` (first 20 minutes), `99458` (each further 20). */
export interface BillingCode {
  code: '99457' | '99458';
  units: number;
}

/** One provider's share of a patient's time. */
export interface ProviderTime {
  providerId: string;
  seconds: number;
  minutes: number;
}

/** A patient's time with a provider in the month, and what it reaches. */
export interface PatientInteractiveTime {
  patientId: string;
  seconds: number;
  /** Complete minutes of `seconds`. */
  minutes: number;
  calls: number;
  callIds: string[];
  codes: BillingCode[];
  providers: ProviderTime[];
}

/** `GET /webrtc/reports/interactive-time?month=YYYY-MM` (providers: their own patients; admins: everyone). */
export interface InteractiveTimeReport {
  month: string;
  timeZone: string;
  /** The month's first and last instants (RFC 3339, UTC). */
  from: string;
  to: string;
  patients: PatientInteractiveTime[];
}

export interface FhirReference {
  reference: string;
}

export interface FhirCoding {
  system?: string;
  code?: string;
  display?: string;
}

/** A call as an HL7 FHIR R4 Encounter (class `VR`, virtual). */
export interface FhirEncounter {
  resourceType: 'Encounter';
  id: string;
  identifier?: { system: string; value: string }[];
  status: 'planned' | 'in-progress' | 'finished' | 'cancelled' | 'unknown';
  class: FhirCoding;
  subject: FhirReference;
  participant?: { type?: { coding: FhirCoding[] }[]; individual: FhirReference }[];
  period?: { start?: string; end?: string };
  length?: { value: number; unit: string; system: string; code: string };
  appointment?: FhirReference[];
  extension?: { url: string; valueString?: string }[];
}

/** A FHIR searchset Bundle. */
export interface FhirBundle<T> {
  resourceType: 'Bundle';
  type: 'searchset';
  total?: number;
  link?: { relation: string; url: string }[];
  entry?: { fullUrl?: string; resource: T }[];
}

/** `GET /fhir/Encounter` search parameters: `subject=Patient/{id}`, `date` with prefixes (`ge2026-11-01`). */
export interface EncounterSearch {
  subject?: string;
  patient?: string;
  date?: string | string[];
  _count?: number;
}
