/**
 * Turns an `RTCStatsReport` (or any Map-like of stats objects, as in tests) into the metrics of
 * a `connection-quality` report: bandwidth kbps, latency ms, packetLoss %, jitter ms and
 * videoResolution `WIDTHxHEIGHT`.
 *
 * Pure: no WebRTC needed. Pass the previous snapshot to get rates over the interval between the
 * two (bytes and packets since then) instead of totals since the connection started.
 */
import type { QualityMetrics } from './events.js';

/** The fields of WebRTC stats objects this module reads. */
export interface StatLike {
  id?: string;
  type: string;
  timestamp?: number;
  kind?: string;
  mediaType?: string;
  // candidate-pair
  state?: string;
  nominated?: boolean;
  selected?: boolean;
  currentRoundTripTime?: number;
  availableOutgoingBitrate?: number;
  availableIncomingBitrate?: number;
  // transport
  selectedCandidatePairId?: string;
  // inbound-rtp / outbound-rtp / remote-inbound-rtp
  bytesReceived?: number;
  bytesSent?: number;
  packetsReceived?: number;
  packetsLost?: number;
  jitter?: number;
  roundTripTime?: number;
  frameWidth?: number;
  frameHeight?: number;
}

/** Anything with `forEach` over stats objects: `RTCStatsReport`, `Map`, or an array. */
export type StatsReportLike =
  | { forEach(cb: (value: StatLike, key?: string) => void): void }
  | Iterable<StatLike>;

/** Counters kept between two snapshots to compute rates. */
export interface StatsSnapshot {
  /** ms, the latest stats timestamp seen */
  timestamp: number;
  bytesReceived: number;
  bytesSent: number;
  packetsReceived: number;
  packetsLost: number;
}

export interface ParsedStats {
  metrics: QualityMetrics;
  snapshot: StatsSnapshot;
}

function toArray(report: StatsReportLike): StatLike[] {
  const out: StatLike[] = [];
  if (typeof (report as { forEach?: unknown }).forEach === 'function') {
    (report as { forEach(cb: (v: StatLike) => void): void }).forEach((v) => out.push(v));
  } else {
    for (const v of report as Iterable<StatLike>) out.push(v);
  }
  return out;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const kindOf = (s: StatLike) => s.kind ?? s.mediaType;
const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The candidate pair in use: the transport's selected pair, else a nominated succeeded one. */
export function selectedCandidatePair(stats: StatLike[]): StatLike | undefined {
  const byId = new Map(stats.filter((s) => s.id !== undefined).map((s) => [s.id as string, s]));
  for (const s of stats) {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = byId.get(s.selectedCandidatePairId);
      if (pair) return pair;
    }
  }
  const pairs = stats.filter((s) => s.type === 'candidate-pair');
  return (
    pairs.find((p) => p.selected) ??
    pairs.find((p) => p.nominated && p.state === 'succeeded') ??
    pairs.find((p) => p.state === 'succeeded')
  );
}

/**
 * Parse a stats report into quality metrics.
 *
 * - latency: the selected candidate pair's `currentRoundTripTime`, else the largest
 *   `remote-inbound-rtp` `roundTripTime`; in ms.
 * - bandwidth: what the path is known to carry, in kbps: the larger of the congestion
 *   controller's estimate (the pair's `availableOutgoingBitrate`, else
 *   `availableIncomingBitrate`) and, with a previous snapshot, the bytes actually sent and
 *   received per second since then. Both are lower bounds of the real capacity; throughput
 *   alone would call every quiet audio call "low bandwidth", and the estimate alone is
 *   missing in some browsers.
 * - packetLoss: inbound packets lost over lost + received (since the previous snapshot if
 *   given), in percent.
 * - jitter: the largest inbound `jitter`, in ms.
 * - videoResolution: the inbound video frame size, else the outbound one.
 */
export function parseStats(report: StatsReportLike, previous?: StatsSnapshot): ParsedStats {
  const stats = toArray(report);
  const inbound = stats.filter((s) => s.type === 'inbound-rtp');
  const outbound = stats.filter((s) => s.type === 'outbound-rtp');
  const pair = selectedCandidatePair(stats);

  let timestamp = 0;
  for (const s of stats) timestamp = Math.max(timestamp, num(s.timestamp) ?? 0);

  const sum = (list: StatLike[], f: (s: StatLike) => number | undefined) =>
    list.reduce((acc, s) => acc + (f(s) ?? 0), 0);
  const snapshot: StatsSnapshot = {
    timestamp,
    bytesReceived: sum(inbound, (s) => num(s.bytesReceived)),
    bytesSent: sum(outbound, (s) => num(s.bytesSent)),
    packetsReceived: sum(inbound, (s) => num(s.packetsReceived)),
    packetsLost: Math.max(0, sum(inbound, (s) => num(s.packetsLost))),
  };

  // latency
  let rttSeconds = num(pair?.currentRoundTripTime);
  if (rttSeconds === undefined) {
    const rtts = stats
      .filter((s) => s.type === 'remote-inbound-rtp')
      .map((s) => num(s.roundTripTime))
      .filter((v): v is number => v !== undefined);
    if (rtts.length) rttSeconds = Math.max(...rtts);
  }
  const latency = rttSeconds === undefined ? 0 : round(rttSeconds * 1000, 1);

  // bandwidth
  let bandwidth = 0;
  const elapsedMs = previous ? snapshot.timestamp - previous.timestamp : 0;
  if (previous && elapsedMs > 0) {
    const bytes =
      Math.max(0, snapshot.bytesReceived - previous.bytesReceived) +
      Math.max(0, snapshot.bytesSent - previous.bytesSent);
    bandwidth = (bytes * 8) / elapsedMs; // bits per ms = kbps
  }
  const available = num(pair?.availableOutgoingBitrate) ?? num(pair?.availableIncomingBitrate);
  if (available !== undefined) bandwidth = Math.max(bandwidth, available / 1000);
  bandwidth = round(clamp(bandwidth, 0, 10_000_000), 1);

  // packet loss
  let lost = snapshot.packetsLost;
  let received = snapshot.packetsReceived;
  if (previous && elapsedMs > 0) {
    lost = Math.max(0, lost - previous.packetsLost);
    received = Math.max(0, received - previous.packetsReceived);
  }
  const packetLoss = lost + received > 0 ? round(clamp((lost / (lost + received)) * 100, 0, 100), 2) : 0;

  // jitter
  const jitters = inbound.map((s) => num(s.jitter)).filter((v): v is number => v !== undefined);
  const jitter = jitters.length ? round(Math.max(...jitters) * 1000, 1) : 0;

  // resolution
  const framed = (s: StatLike) => kindOf(s) === 'video' && (num(s.frameWidth) ?? 0) > 0 && (num(s.frameHeight) ?? 0) > 0;
  const video = inbound.find(framed) ?? outbound.find(framed);

  const metrics: QualityMetrics = { bandwidth, latency, packetLoss, jitter };
  if (video) metrics.videoResolution = `${video.frameWidth}x${video.frameHeight}`;
  return { metrics, snapshot };
}

/** Quick local judgement mirroring the server's thresholds (for an indicator in the UI). */
export function qualityLevel(m: QualityMetrics): 'good' | 'fair' | 'poor' {
  if (m.packetLoss > 5 || (m.bandwidth > 0 && m.bandwidth < 300)) return 'poor';
  if (m.latency > 300 || m.jitter > 50) return 'fair';
  return 'good';
}
