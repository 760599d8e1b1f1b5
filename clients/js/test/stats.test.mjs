// Unit tests of parseStats / qualityLevel: RTCStatsReport-shaped input as Chrome produces it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStats, qualityLevel, selectedCandidatePair } from '../dist/index.js';

/** A report like Chrome's for a 1:1 video call at time `t` (ms) with the given counters. */
function report(t, { rx = 0, tx = 0, prx = 0, lost = 0, rtt = 0.042, jitter = 0.012, avail, w = 640, h = 480 } = {}) {
  return new Map(
    [
      { id: 'T01', type: 'transport', timestamp: t, selectedCandidatePairId: 'CP1' },
      { id: 'CP0', type: 'candidate-pair', timestamp: t, state: 'failed', currentRoundTripTime: 9 },
      { id: 'CP1', type: 'candidate-pair', timestamp: t, state: 'succeeded', nominated: true, currentRoundTripTime: rtt, availableOutgoingBitrate: avail },
      { id: 'IA', type: 'inbound-rtp', kind: 'audio', timestamp: t, bytesReceived: rx / 4, packetsReceived: prx / 4, packetsLost: lost / 4, jitter: jitter / 2 },
      { id: 'IV', type: 'inbound-rtp', kind: 'video', timestamp: t, bytesReceived: (rx * 3) / 4, packetsReceived: (prx * 3) / 4, packetsLost: (lost * 3) / 4, jitter, frameWidth: w, frameHeight: h },
      { id: 'OA', type: 'outbound-rtp', kind: 'audio', timestamp: t, bytesSent: tx / 4 },
      { id: 'OV', type: 'outbound-rtp', kind: 'video', timestamp: t, bytesSent: (tx * 3) / 4, frameWidth: 320, frameHeight: 240 },
    ].map((s) => [s.id, s]),
  );
}

test('latency is the selected pair RTT in ms, jitter the worst inbound in ms, resolution the inbound video', () => {
  const { metrics } = parseStats(report(1000, { rtt: 0.0423, jitter: 0.0151 }));
  assert.equal(metrics.latency, 42.3);
  assert.equal(metrics.jitter, 15.1);
  assert.equal(metrics.videoResolution, '640x480');
});

test('the transport’s selected pair wins over other succeeded or failed pairs', () => {
  const stats = [...report(1).values()];
  assert.equal(selectedCandidatePair(stats).id, 'CP1');
  // Without a transport entry, a nominated succeeded pair is chosen, never the failed one.
  const noTransport = stats.filter((s) => s.type !== 'transport');
  assert.equal(selectedCandidatePair(noTransport).id, 'CP1');
});

test('bandwidth over an interval is bytes both ways per second, in kbps', () => {
  const a = parseStats(report(10_000, { rx: 100_000, tx: 50_000 }));
  // 10 s later: 1,250,000 more bytes received and 1,250,000 more sent = 20,000,000 bits / 10 s = 2000 kbps
  const b = parseStats(report(20_000, { rx: 1_350_000, tx: 1_300_000 }), a.snapshot);
  assert.equal(b.metrics.bandwidth, 2000);
});

test('bandwidth uses the congestion estimate when it is larger than the traffic (quiet audio call)', () => {
  const a = parseStats(report(0, { rx: 0, tx: 0 }));
  const b = parseStats(report(10_000, { rx: 50_000, tx: 50_000, avail: 1_500_000 }), a.snapshot);
  assert.equal(b.metrics.bandwidth, 1500);
  // And without a previous snapshot the estimate alone is used.
  assert.equal(parseStats(report(5, { avail: 812_345 })).metrics.bandwidth, 812.3);
});

test('packet loss is over the interval since the previous snapshot, in percent', () => {
  const a = parseStats(report(0, { prx: 1000, lost: 500 })); // 33 % since start...
  assert.equal(a.metrics.packetLoss, 33.33);
  const b = parseStats(report(10_000, { prx: 1950, lost: 550 }), a.snapshot); // ...but 50 of 1000 in this interval
  assert.equal(b.metrics.packetLoss, 5);
});

test('counters that went backwards (a new connection) never give negative rates', () => {
  const a = parseStats(report(10_000, { rx: 9_000_000, tx: 9_000_000, prx: 9000, lost: 90 }));
  const b = parseStats(report(20_000, { rx: 1000, tx: 1000, prx: 10, lost: 0 }), a.snapshot);
  assert.ok(b.metrics.bandwidth >= 0);
  assert.equal(b.metrics.packetLoss, 0);
});

test('an empty report (no connection yet) gives zeros and no resolution, within the server’s ranges', () => {
  const { metrics } = parseStats(new Map());
  assert.deepEqual(metrics, { bandwidth: 0, latency: 0, packetLoss: 0, jitter: 0 });
});

test('audio-only: no video resolution; remote-inbound RTT is used without a candidate-pair RTT', () => {
  const stats = [
    { id: 'IA', type: 'inbound-rtp', kind: 'audio', timestamp: 1, packetsReceived: 100, packetsLost: 0, jitter: 0.002 },
    { id: 'R1', type: 'remote-inbound-rtp', kind: 'audio', timestamp: 1, roundTripTime: 0.08 },
    { id: 'R2', type: 'remote-inbound-rtp', kind: 'video', timestamp: 1, roundTripTime: 0.12 },
  ];
  const { metrics } = parseStats(stats);
  assert.equal(metrics.latency, 120);
  assert.equal(metrics.videoResolution, undefined);
});

test('resolution falls back to what we send when nothing video is received', () => {
  const stats = [...report(1).values()].filter((s) => s.id !== 'IV');
  assert.equal(parseStats(stats).metrics.videoResolution, '320x240');
});

test('garbage values (NaN, strings, negative totals) are ignored', () => {
  const stats = [
    { id: 'CP', type: 'candidate-pair', state: 'succeeded', nominated: true, currentRoundTripTime: NaN, timestamp: 1 },
    { id: 'I', type: 'inbound-rtp', kind: 'video', packetsReceived: '12', packetsLost: -5, jitter: Infinity, frameWidth: 0, frameHeight: 10, timestamp: 1 },
  ];
  const { metrics } = parseStats(stats);
  assert.deepEqual(metrics, { bandwidth: 0, latency: 0, packetLoss: 0, jitter: 0 });
});

test('qualityLevel mirrors the server thresholds', () => {
  const good = { bandwidth: 2000, latency: 40, packetLoss: 0.1, jitter: 5 };
  assert.equal(qualityLevel(good), 'good');
  assert.equal(qualityLevel({ ...good, packetLoss: 5.01 }), 'poor');
  assert.equal(qualityLevel({ ...good, packetLoss: 5 }), 'good');
  assert.equal(qualityLevel({ ...good, bandwidth: 299 }), 'poor');
  assert.equal(qualityLevel({ ...good, latency: 301 }), 'fair');
  assert.equal(qualityLevel({ ...good, jitter: 51 }), 'fair');
});
