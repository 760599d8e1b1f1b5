// Browser test of the client SDK itself against the real server: a provider page and a
// patient page (separate contexts of Debian's chromium, fake camera and microphone) hold a
// video call through VytalcallClient only. Run: node --test sdk/ in e2e/ (e2e/run runs it with the
// other suites).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, openClientPage, sleep } from './harness.mjs';

let server;
let browser;
let serveBundle;

before(async () => {
  server = await startServer({ QUALITY_STATS_REQUEST_SECONDS: '3', RECONNECT_GRACE_SECONDS: '20' });
  browser = await launchBrowser();
  // Always the bundle in the working tree (what the binary embeds at its next build), so the
  // test checks the SDK as committed even when the binary was built before a change to it.
  serveBundle = false;
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Waits for a page-side predicate, with a message naming what was expected. */
async function until(page, what, fn, arg, timeout = 15000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`timed out waiting for: ${what} (${e.message.split('\n')[0]})`);
  }
}

/** Inbound RTP bytes (audio + video) of the connection to the other user, and the remote video's time. */
const media = (page, other) =>
  page.evaluate(async (other) => {
    const pc = vc.peerConnection(other);
    let audio = 0;
    let video = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp') s.kind === 'video' ? (video += s.bytesReceived) : (audio += s.bytesReceived);
    });
    return { audio, video, width: h.remote.videoWidth, time: h.remote.currentTime };
  }, other);

/** Polls `check` (returns true, or a text saying what is still missing) until it holds. */
async function eventually(what, check, { timeout = 20000, every = 250 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const r = await check();
    if (r === true) return;
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}: ${r}`);
    await sleep(every);
  }
}

/** Both directions carry audio and video and the remote pictures move (seen to grow, however
 * slowly a loaded machine lets them). */
async function assertMediaFlowsBothWays(P, Q) {
  const a1 = await media(P.page, Q.who.id);
  const b1 = await media(Q.page, P.who.id);
  await eventually('media flowing both ways', async () => {
    const a2 = await media(P.page, Q.who.id);
    const b2 = await media(Q.page, P.who.id);
    const missing = [];
    for (const [side, x, y] of [
      ['provider', a1, a2],
      ['patient', b1, b2],
    ]) {
      if (!(y.width > 0)) missing.push(`${side}: remote video has no size`);
      if (!(y.time > x.time)) missing.push(`${side}: remote video time stands (${x.time} -> ${y.time})`);
      if (!(y.video > x.video)) missing.push(`${side}: inbound video bytes stand (${x.video} -> ${y.video})`);
      if (!(y.audio > x.audio)) missing.push(`${side}: inbound audio bytes stand (${x.audio} -> ${y.audio})`);
    }
    return missing.length ? missing.join('; ') : true;
  });
}

/**
 * Video from `other` has stopped on `page` while audio goes on: over one window of `windowMs`
 * not a video byte arrives and audio bytes do. Packets already on the way when the sender
 * stopped may still land, so windows are tried until one is quiet.
 */
async function assertVideoStoppedAudioFlows(page, other, windowMs = 1000) {
  let last = await media(page, other);
  let seen = '';
  await eventually('video bytes to stop while audio bytes grow', async () => {
    await sleep(windowMs);
    const now = await media(page, other);
    const quiet = now.video === last.video && now.audio > last.audio;
    seen = `video +${now.video - last.video}, audio +${now.audio - last.audio} in ${windowMs} ms`;
    last = now;
    return quiet || seen;
  });
}

/** What a page's connection to `other` looks like (for failure messages; no SDP). */
const diagnose = (page, other) =>
  page.evaluate((o) => {
    const pc = vc.peerConnection(o);
    const polite = sdk.isPolite(vc.userId, o);
    const tracks = h.remote.srcObject ? h.remote.srcObject.getTracks().map((t) => `${t.kind}:${t.readyState}:${t.muted ? 'muted' : 'live'}`) : [];
    return JSON.stringify({
      polite,
      phase: vc.state.phase,
      pc: pc && { sig: pc.signalingState, ice: pc.iceConnectionState, conn: pc.connectionState, gathering: pc.iceGatheringState, local: pc.localDescription?.type, remote: pc.remoteDescription?.type },
      tracks,
      video: { w: h.remote.videoWidth, ready: h.remote.readyState, paused: h.remote.paused },
      log: h.log.map((e) => e.name),
    });
  }, other);

/** A provider and a patient page in a connected video call; the patient accepts on ring. */
async function startCall({ patientOptions = {}, providerOptions = {} } = {}) {
  const provider = server.user('provider');
  const patient = server.user('patient');
  const P = await openClientPage(browser, server, provider, { serveBundle, clientOptions: { qualityIntervalMs: 2000, ...providerOptions } });
  const Q = await openClientPage(browser, server, patient, { serveBundle, clientOptions: patientOptions });
  const ringing = Q.page.evaluate(() => h.when('incoming-call'));
  const callId = await P.page.evaluate(async (patientId) => {
    const call = await vc.createCall({ patientId, type: 'video' });
    await vc.join(call.id, { callType: call.type });
    return call.id;
  }, patient.id);
  const incoming = await ringing;
  assert.equal(incoming.callId, callId);
  assert.equal(incoming.from, provider.id);
  assert.equal(await Q.page.evaluate(() => vc.state.phase), 'ringing');
  await Q.page.evaluate((id) => vc.join(id, { callType: 'video' }), callId);
  try {
    await until(P.page, 'provider sees remote video', () => h.remote.videoWidth > 0);
    await until(Q.page, 'patient sees remote video', () => h.remote.videoWidth > 0);
  } catch (e) {
    e.message += `\nprovider: ${await diagnose(P.page, patient.id)} ${P.consoleLines.join(' | ')}\npatient: ${await diagnose(Q.page, provider.id)} ${Q.consoleLines.join(' | ')}`;
    throw e;
  }
  return { P, Q, callId };
}

async function close(...pages) {
  for (const p of pages) await p.context.close();
}

test('a video call: both see and hear each other, state says connected, ending ends it for both', async () => {
  const { P, Q, callId } = await startCall();
  await assertMediaFlowsBothWays(P, Q);
  assert.equal(await P.page.evaluate(() => vc.state.phase), 'connected');
  assert.equal(await Q.page.evaluate(() => vc.state.phase), 'connected');
  // Both sides offered at once (the newcomer on join, the other on participant-joined);
  // perfect negotiation left both stable.
  assert.equal(await P.page.evaluate((o) => vc.peerConnection(o).signalingState, Q.who.id), 'stable');
  assert.equal(await Q.page.evaluate((o) => vc.peerConnection(o).signalingState, P.who.id), 'stable');
  assert.equal(await P.page.evaluate((o) => vc.peerConnection(o).signalingState, Q.who.id), 'stable');
  assert.equal(await Q.page.evaluate((o) => vc.peerConnection(o).signalingState, P.who.id), 'stable');

  // Quality reports go out (every 2 s here) with real figures, and the server answers them.
  const q = await P.page.evaluate(() => new Promise((r) => vc.on('quality', r)));
  assert.ok(q.result && q.result.stored !== undefined, 'server acknowledged the report');
  assert.ok(q.metrics.bandwidth > 0, `bandwidth ${q.metrics.bandwidth}`);
  assert.match(q.metrics.videoResolution ?? '', /^\d+x\d+$/);

  const ended = Q.page.evaluate(() => h.when('call-ended'));
  await P.page.evaluate(() => vc.endCall());
  const e = await ended;
  assert.equal(e.callId, callId);
  await until(P.page, 'provider phase ended', () => vc.state.phase === 'ended');
  assert.equal(await Q.page.evaluate(() => vc.state.phase), 'ended');
  // Camera and microphone released on both sides.
  assert.equal(await P.page.evaluate(() => vc.local), null);
  assert.equal(await Q.page.evaluate(() => h.local.srcObject.getTracks().every((t) => t.readyState === 'ended')), true);
  await close(P, Q);
});

test('request-quality-stats is answered with a connection-quality report', async () => {
  // The patient reports only when asked (interval far away); the server asks after 3 s.
  const { P, Q } = await startCall({ patientOptions: { qualityIntervalMs: 600_000 } });
  const q = await Q.page.evaluate(() => new Promise((r) => vc.on('quality', r)));
  assert.ok(q.result, 'the report was acknowledged');
  await close(P, Q);
});

test('mute, camera off and screen share reach the other side; screen share replaces the track and back', async () => {
  const { P, Q } = await startCall();
  await P.page.evaluate(() => vc.setMuted(true));
  await until(Q.page, 'patient sees provider muted', (id) => vc.state.participants[id]?.audioEnabled === false, P.who.id);
  await P.page.evaluate(() => vc.setCameraEnabled(false));
  await until(Q.page, 'patient sees provider camera off', (id) => vc.state.participants[id]?.videoEnabled === false, P.who.id);
  assert.equal(await P.page.evaluate(() => vc.local.getAudioTracks()[0].enabled), false);
  await P.page.evaluate(() => {
    vc.setMuted(false);
    vc.setCameraEnabled(true);
  });
  await until(Q.page, 'patient sees provider unmuted, camera on', (id) => {
    const p = vc.state.participants[id];
    return p?.audioEnabled && p?.videoEnabled;
  }, P.who.id);

  // getDisplayMedia needs a user gesture: click a button that starts the share.
  await P.page.evaluate(() => {
    const b = document.createElement('button');
    b.id = 'share';
    b.textContent = 'Share screen';
    b.onclick = () => vc.startScreenShare().then(() => h.mark('shared'), (e) => h.mark('share-failed', String(e)));
    document.body.append(b);
  });
  await P.page.click('#share');
  await until(P.page, 'screen share started', () => h.log.some((e) => e.name === 'shared' || e.name === 'share-failed'));
  assert.equal(await P.page.evaluate(() => h.log.find((e) => e.name === 'share-failed')?.data ?? null), null);
  await until(Q.page, 'patient sees provider sharing', (id) => vc.state.participants[id]?.screenShareEnabled === true, P.who.id);
  const sender = (page, other) =>
    page.evaluate((o) => {
      const s = vc.peerConnection(o).getSenders().find((x) => x.track?.kind === 'video');
      return { label: s?.track?.label ?? null, camera: s?.track === vc.local.getVideoTracks()[0] };
    }, other);
  assert.equal((await sender(P.page, Q.who.id)).camera, false, 'the video sender carries the screen');
  assert.equal(await P.page.evaluate((o) => vc.peerConnection(o).signalingState, Q.who.id), 'stable');
  await assertMediaFlowsBothWays(P, Q);
  await P.page.evaluate(() => vc.stopScreenShare());
  await until(Q.page, 'patient sees provider stop sharing', (id) => vc.state.participants[id]?.screenShareEnabled === false, P.who.id);
  assert.equal((await sender(P.page, Q.who.id)).camera, true, 'back to the camera');
  await close(P, Q);
});

test('switch to audio-only: video stops, the other side is told, audio keeps flowing', async () => {
  const { P, Q } = await startCall();
  await Q.page.evaluate(() => vc.switchToAudioOnly());
  await until(P.page, 'provider sees patient video off', (id) => vc.state.participants[id]?.videoEnabled === false, Q.who.id);
  assert.equal(await Q.page.evaluate(() => vc.state.audioOnly), true);
  assert.equal(await Q.page.evaluate(() => vc.local.getVideoTracks().length), 0, 'camera released');
  // Nothing sends video any more (the senders are empty) ...
  assert.equal(await Q.page.evaluate((o) => vc.peerConnection(o).getSenders().filter((s) => s.track?.kind === 'video').length, P.who.id), 0);
  // ... and the provider sees it: video bytes stop, audio bytes keep growing.
  await assertVideoStoppedAudioFlows(P.page, Q.who.id);
  await close(P, Q);
});

test('with offerWaitMs the one already in the call waits for the newcomer’s offer (one offer, no rollback)', async () => {
  const { P, Q } = await startCall({ providerOptions: { offerWaitMs: 5000 } });
  // Connected well before the provider's own offer would have gone out.
  for (const [page, other] of [
    [P.page, Q.who.id],
    [Q.page, P.who.id],
  ]) {
    assert.equal(await page.evaluate((o) => vc.peerConnection(o).signalingState, other), 'stable');
  }
  // The provider answered: its local description is an answer, not an offer.
  assert.equal(await P.page.evaluate((o) => vc.peerConnection(o).localDescription.type, Q.who.id), 'answer');
  await assertMediaFlowsBothWays(P, Q);
  await close(P, Q);
});

test('simultaneous ICE restarts from both sides (an offer collision) leave the call working', async () => {
  const { P, Q } = await startCall();
  await Promise.all([
    P.page.evaluate((o) => vc.peerConnection(o).restartIce(), Q.who.id),
    Q.page.evaluate((o) => vc.peerConnection(o).restartIce(), P.who.id),
  ]);
  // Both sides settle: negotiation stable and the connection up again.
  for (const [page, other] of [
    [P.page, Q.who.id],
    [Q.page, P.who.id],
  ]) {
    await until(page, 'stable and connected after the crossing restarts', (o) => {
      const pc = vc.peerConnection(o);
      return pc.signalingState === 'stable' && pc.connectionState === 'connected';
    }, other, 20000);
  }
  await assertMediaFlowsBothWays(P, Q);
  await close(P, Q);
});

test('a dropped signaling connection: reconnect-call, ICE restart, media keeps flowing', async () => {
  const { P, Q } = await startCall();
  const ufrag = () => Q.page.evaluate((o) => /a=ice-ufrag:(\S+)/.exec(vc.peerConnection(o).localDescription.sdp)[1], P.who.id);
  const ufragBefore = await ufrag();
  const back = Q.page.evaluate(() => h.when('reconnected'));
  const seenDrop = P.page.evaluate(() => h.when('participant-disconnected'));
  // Close the transport under the socket: socket.io-client reconnects by itself.
  await Q.page.evaluate(() => vc.rawSocket.io.engine.close());
  await seenDrop;
  const reply = await back;
  assert.equal(reply.resumed, true);
  await until(P.page, 'provider sees the patient back', (id) => vc.state.participants[id]?.disconnected === false, Q.who.id);
  assert.equal(await Q.page.evaluate(() => vc.state.phase), 'connected');
  await until(Q.page, 'ICE restarted (new local ufrag)', ([o, before]) => {
    const m = /a=ice-ufrag:(\S+)/.exec(vc.peerConnection(o).localDescription?.sdp ?? '');
    return m && m[1] !== before && vc.peerConnection(o).signalingState === 'stable';
  }, [P.who.id, ufragBefore]);
  await assertMediaFlowsBothWays(P, Q);
  await close(P, Q);
});

test('the patient reloads the page mid-call: it rejoins and media resumes both ways', async () => {
  const { P, Q, callId } = await startCall();
  await P.page.evaluate(() => {
    window.oldStream = h.remote.srcObject;
  });
  const removedOrReplaced = P.page.evaluate(() => h.when('participant-joined'));
  await Q.context.close();
  const Q2 = await openClientPage(browser, server, Q.who, { serveBundle });
  const reply = await Q2.page.evaluate((id) => vc.join(id, { callType: 'video' }), callId);
  assert.ok(reply.participants.includes(P.who.id));
  const joined = await removedOrReplaced;
  assert.equal(joined.userId, Q.who.id);
  await until(Q2.page, 'reloaded patient sees remote video', () => h.remote.videoWidth > 0);
  // The provider replaced its connection (new DTLS fingerprint): a new stream, with frames.
  await until(P.page, 'provider sees the reloaded patient', () => h.remote.srcObject && h.remote.srcObject !== window.oldStream && h.remote.videoWidth > 0);
  await assertMediaFlowsBothWays(P, Q2);
  await close(P, Q2);
});

test('the patient declines: the provider’s call ends as cancelled', async () => {
  const provider = server.user('provider');
  const patient = server.user('patient');
  const P = await openClientPage(browser, server, provider, { serveBundle });
  const Q = await openClientPage(browser, server, patient, { serveBundle });
  const ringing = Q.page.evaluate(() => h.when('incoming-call'));
  await P.page.evaluate(async (patientId) => {
    const call = await vc.createCall({ patientId, type: 'video' });
    await vc.join(call.id, { callType: call.type });
  }, patient.id);
  const { callId } = await ringing;
  const ended = P.page.evaluate(() => h.when('call-ended'));
  await Q.page.evaluate((id) => vc.decline(id), callId);
  assert.equal((await ended).callId, callId);
  assert.equal(await Q.page.evaluate(() => vc.state.phase), 'ended');
  assert.equal(await P.page.evaluate(() => vc.local), null, 'provider camera released');
  await close(P, Q);
});

/** Three poor reports in a row make the server suggest audio-only (docs/signaling.md, Quality). */
const sendPoorReports = (page, callId) =>
  page.evaluate(async (callId) => {
    for (let i = 0; i < 3; i++) {
      await vc.rawSocket.emitWithAck('connection-quality', {
        callId,
        metrics: { bandwidth: 100, latency: 50, packetLoss: 12, jitter: 5 },
      });
    }
  }, callId);

test('a quality-warning suggesting audio-only is offered to the app (default), not acted on', async () => {
  const { P, Q, callId } = await startCall();
  await sendPoorReports(Q.page, callId);
  const e = await Q.page.evaluate(() => h.when('audio-only-suggested'));
  assert.equal(e.suggestion, 'switch-to-audio-only');
  assert.equal(await Q.page.evaluate(() => vc.state.audioOnly), false, 'no switch without the user');
  assert.equal(await Q.page.evaluate(() => vc.state.quality?.suggestion), 'switch-to-audio-only');
  await close(P, Q);
});

test('with autoAudioOnly the suggestion switches to audio-only by itself', async () => {
  const { P, Q, callId } = await startCall({ patientOptions: { autoAudioOnly: true } });
  await sendPoorReports(Q.page, callId);
  await until(Q.page, 'patient switched to audio-only', () => vc.state.audioOnly === true);
  await until(P.page, 'provider told: patient video off', (id) => vc.state.participants[id]?.videoEnabled === false, Q.who.id);
  assert.equal(await Q.page.evaluate(() => h.log.some((e) => e.name === 'audio-only-suggested')), false);
  await close(P, Q);
});

test('recording: with consent, both pages send their media to the recording peer; stop ends it', async () => {
  const { P, Q, callId } = await startCall();
  const connected = (page) => page.evaluate(() => new Promise((r) => vc.on('recorder-connection', (e) => e.connected && r(e))));
  const pUp = connected(P.page);
  const qUp = connected(Q.page);
  // The patient consents in the app; the provider attests to its own consent when starting.
  await Q.page.evaluate((id) => vc.setRecordingConsent(id, true), callId);
  const rec = await P.page.evaluate(
    ([id, self]) => vc.startRecording(id, { consentObtained: true, consentedParticipants: [self], consentMethod: 'in-app' }),
    [callId, P.who.id],
  );
  assert.ok(rec.id, 'recording started');
  const [a, b] = await Promise.all([pUp, qUp]);
  assert.equal(a.recordingId, rec.id);
  assert.equal(b.recordingId, rec.id);
  assert.equal(await Q.page.evaluate(() => vc.state.recording?.recordingId), rec.id);
  await sleep(3000);
  const stopped = Q.page.evaluate(() => h.when('recording-stopped'));
  await P.page.evaluate(([id, rid]) => vc.stopRecording(id, rid), [callId, rec.id]);
  await stopped;
  assert.equal(await Q.page.evaluate(() => vc.state.recording), null);
  const meta = await P.page.evaluate(([id, rid]) => vc.rest('GET', `/calls/${id}/recordings/${rid}`), [callId, rec.id]);
  assert.equal(meta.status, 'completed');
  assert.ok(meta.durationMs > 2000, `duration ${meta.durationMs} ms`);
  // Both people's audio and video are in the file (tracks that never got a frame are voided).
  const res = await fetch(`${server.url}/webrtc/calls/${callId}/recordings/${rec.id}/media`, {
    headers: { authorization: `Bearer ${P.who.token}` },
  });
  assert.equal(res.status, 200);
  const dir = mkdtempSync(join(tmpdir(), 'vytalcall-rec-'));
  const file = join(dir, 'r.webm');
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  let probe;
  try {
    probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file], { encoding: 'utf8' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const kinds = probe.streams.map((x) => x.codec_type).sort();
  assert.deepEqual(kinds, ['audio', 'audio', 'video', 'video']);
  await close(P, Q);
});

test('joining a call that is not ours fails clearly and releases the camera', async () => {
  const P = await openClientPage(browser, server, server.user('provider'), { serveBundle });
  const r = await P.page.evaluate(async () => {
    try {
      await vc.join('00000000-0000-4000-8000-000000000000');
      return { ok: true };
    } catch (e) {
      return { name: e.name, code: e.code, phase: vc.state.phase, local: vc.local, endReason: vc.state.endReason };
    }
  });
  assert.deepEqual(r, { name: 'SignalingRequestError', code: 'call-not-found', phase: 'ended', local: null, endReason: 'call-not-found' });
  await close(P);
});

// Repeated set-ups, to measure how reliable call set-up is (not part of the normal run):
//   STRESS_SETUPS=60 [STRESS_OFFER_WAIT_MS=0] node --test --test-name-pattern=stress sdk.test.mjs
const stress = Number(process.env.STRESS_SETUPS ?? 0);
for (let k = 0; k < stress; k++) {
  test(`stress set-up ${k + 1}/${stress}`, async () => {
    const wait = process.env.STRESS_OFFER_WAIT_MS;
    const { P, Q } = await startCall({ providerOptions: wait === undefined ? {} : { offerWaitMs: Number(wait) } });
    await close(P, Q);
  });
}
