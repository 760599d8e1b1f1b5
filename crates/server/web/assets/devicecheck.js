// The pre-call device check of the waiting room: is the camera giving pictures, does the
// microphone hear anything, can the person hear a test sound, and how good is the connection
// to the clinic (round trip to the server; with a TURN relay configured, whether it can be
// reached). Each result is `ok`, `failed` or `unavailable` (not there, or not tested), the
// words of the `device-check` event (docs/signaling.md); the screen says them in plain words.

/** How loud the microphone must get (RMS of the samples, 0..1) to count as hearing something. */
const HEARD = 0.01;
/** How long to listen before saying the microphone heard nothing, ms. */
const LISTEN_MS = 10000;

/** Round trip to the server: the middle of three small requests (none is cached), ms. */
export async function measureRtt() {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const r = await fetch(`/healthz?check=${Date.now()}-${i}`, { cache: 'no-store' });
    await r.arrayBuffer();
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[1]);
}

/**
 * Whether a TURN relay of `iceServers` gives a relay candidate within `ms`; null when none
 * is configured (nothing to test).
 */
export async function relayReachable(iceServers, ms = 6000) {
  const turn = (iceServers ?? []).filter((s) => [].concat(s.urls ?? []).some((u) => /^turns?:/.test(u)));
  if (!turn.length || typeof RTCPeerConnection !== 'function') return null;
  const pc = new RTCPeerConnection({ iceServers: turn, iceTransportPolicy: 'relay' });
  try {
    pc.createDataChannel('check');
    const found = new Promise((resolve) => {
      pc.onicecandidate = (e) => {
        if (!e.candidate) resolve(false);
        else if (/ typ relay /.test(e.candidate.candidate)) resolve(true);
      };
      setTimeout(() => resolve(false), ms);
    });
    await pc.setLocalDescription(await pc.createOffer());
    return await found;
  } catch (err) {
    console.warn('relay check failed', err);
    return false;
  } finally {
    pc.close();
  }
}

/**
 * Listens to the microphone track of `stream`: `onLevel(level 0..1)` as it changes (for a
 * meter), `onResult('ok' | 'failed')` once it heard something or after `LISTEN_MS` of silence
 * (then again with `ok` if it hears something later). Returns `stop()`.
 */
export function listen(stream, { onLevel, onResult }) {
  const track = stream?.getAudioTracks()[0];
  if (!track || track.readyState !== 'live') {
    onResult('failed');
    return () => undefined;
  }
  let ctx;
  try {
    ctx = new AudioContext();
  } catch (err) {
    // No Web Audio: a live, unmuted track is the best sign there is.
    console.warn('AudioContext unavailable', err);
    onResult(track.muted ? 'failed' : 'ok');
    return () => undefined;
  }
  void ctx.resume().catch(() => undefined);
  const source = ctx.createMediaStreamSource(new MediaStream([track]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let heard = false;
  let told = null;
  const started = performance.now();
  const timer = setInterval(() => {
    if (ctx.state !== 'running') {
      // The browser did not let the page listen (no gesture yet): judge by the track.
      if (performance.now() - started > 2000 && told === null) {
        told = track.muted ? 'failed' : 'ok';
        onResult(told);
      }
      return;
    }
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const v of samples) sum += v * v;
    const level = Math.sqrt(sum / samples.length);
    onLevel(Math.min(1, level * 4));
    if (level >= HEARD && !heard) {
      heard = true;
      if (told !== 'ok') onResult((told = 'ok'));
    } else if (!heard && told === null && performance.now() - started > LISTEN_MS) {
      onResult((told = 'failed'));
    }
  }, 150);
  return () => {
    clearInterval(timer);
    source.disconnect();
    void ctx.close().catch(() => undefined);
  };
}

/** Plays a short chime through the page's audio output (the speaker test). */
export async function playTestSound() {
  const ctx = new AudioContext();
  await ctx.resume().catch(() => undefined);
  const now = ctx.currentTime;
  for (const [i, f] of [523, 659, 784].entries()) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = f;
    gain.gain.setValueAtTime(0.0001, now + i * 0.3);
    gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.3 + 0.05);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.3 + 0.28);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now + i * 0.3);
    osc.stop(now + i * 0.3 + 0.3);
  }
  setTimeout(() => void ctx.close().catch(() => undefined), 1500);
}

/** One result in plain words, for the person being checked (`kind`: camera, microphone, speaker, network). */
export function resultWords(kind, result, detail = {}) {
  switch (kind) {
    case 'camera':
      return result === 'ok' ? 'Your camera works.' : result === 'failed' ? 'Your camera is not working. Your provider will still hear you.' : result === 'checking' ? 'Checking your camera…' : 'No camera is used for this visit.';
    case 'microphone':
      return result === 'ok' ? 'Your microphone works: we can hear you.' : result === 'failed' ? 'We cannot hear your microphone. Check that it is switched on and not muted.' : 'Say something: we are listening to your microphone…';
    case 'speaker':
      return result === 'ok' ? 'You can hear sound.' : result === 'failed' ? 'You did not hear the test sound. Turn up the volume or connect headphones.' : 'Play the test sound to check your speaker or headphones.';
    case 'network':
      if (result === 'checking') return 'Checking your connection…';
      if (result === 'failed') return 'Your connection to the clinic is weak or interrupted. The visit may be choppy.';
      return detail.rttMs != null && detail.rttMs > 300 ? 'Your connection works, but it is slow. The visit may be choppy.' : 'Your connection to the clinic is good.';
    default:
      return '';
  }
}

/** A device check (`deviceCheck` of a `waiting-room` entry) summarised for providers, or null. */
export function checkSummary(check) {
  if (!check) return null;
  const parts = [];
  parts.push(check.camera === 'ok' ? 'camera works' : check.camera === 'failed' ? 'camera not working' : 'no camera');
  parts.push(check.microphone === 'ok' ? 'microphone works' : check.microphone === 'failed' ? 'microphone not heard' : 'no microphone');
  parts.push(check.speaker === 'ok' ? 'hears sound' : check.speaker === 'failed' ? 'did not hear the test sound' : 'speaker not tested');
  const net = check.network ?? {};
  const rtt = net.rttMs != null ? ` (${net.rttMs} ms)` : '';
  parts.push(net.result === 'ok' ? (net.rttMs != null && net.rttMs > 300 ? `slow connection${rtt}` : `good connection${rtt}`) : net.result === 'failed' ? 'connection problems' : 'connection not checked');
  if (net.turn === false) parts.push('relay not reachable');
  const text = parts.join(', ');
  return text[0].toUpperCase() + text.slice(1) + '.';
}

/** Whether a device check holds a problem worth a provider's attention. */
export function checkTrouble(check) {
  if (!check) return false;
  return [check.camera, check.microphone, check.speaker, check.network?.result].includes('failed') || check.network?.turn === false;
}
