// Connection-quality monitoring: every `qualityIntervalMs` (and when the server asks) the
// participants' `getStats()` become one `connection-quality` report; the server's verdict
// goes into the state and out as the `quality` event.
import type { ConnectionQualityResult, QualityMetrics } from './events.js';
import { parseStats, type StatLike, type StatsSnapshot } from './stats.js';
import type { SignalingRequestError } from './errors.js';
import type { ClientCore } from './core.js';

export class QualityMonitor {
  private timer: ReturnType<typeof setInterval> | null = null;
  /** The previous reading: packet loss and throughput are measured over the interval. */
  private snapshot: StatsSnapshot | undefined;

  /** `connections()`: the participants' connections (not the recorder's). */
  constructor(
    private readonly core: ClientCore,
    private readonly connections: () => RTCPeerConnection[],
  ) {}

  start() {
    if (this.timer) return;
    this.timer = setInterval(() => void this.report(), this.core.opts.qualityIntervalMs ?? 10_000);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.snapshot = undefined;
  }

  /** Measure now (all peer connections' `getStats()`) and send `connection-quality`. */
  async report(): Promise<QualityMetrics | null> {
    const callId = this.core.state.callId;
    if (!callId || !this.core.socket?.connected) return null;
    const pcs = this.connections();
    // Before any connection is up the figures mean nothing (bandwidth 0 would read as "low
    // bandwidth" and soon as a suggestion to drop video): report only with media flowing.
    if (!pcs.some((pc) => pc.connectionState === 'connected')) return null;
    const all: StatLike[] = [];
    for (const pc of pcs) {
      const report = await pc.getStats();
      report.forEach((s: StatLike) => all.push(s));
    }
    const { metrics, snapshot } = parseStats(all, this.snapshot);
    this.snapshot = snapshot;
    let result: ConnectionQualityResult | null = null;
    try {
      result = await this.core.request<ConnectionQualityResult>('connection-quality', { callId, metrics });
    } catch (err) {
      this.core.emit('signaling-error', {
        event: 'connection-quality',
        error: { code: (err as SignalingRequestError).code ?? 'internal', message: (err as Error).message },
      });
    }
    this.core.dispatch({ type: 'quality', metrics, warning: result?.warning ?? null, suggestion: result?.suggestion ?? null });
    this.core.emit('quality', { metrics, result });
    return metrics;
  }
}
