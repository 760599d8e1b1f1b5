// A provider records a real browser call through the web app's own buttons, and what the
// provider downloads afterwards is a playable recording: it decrypts, ffprobe finds audio and
// video of the recorded length, and a decoded frame shows a picture. The patient cannot fetch
// it. The same runs twice: on local disk, and on a real S3-compatible server (moto, from the
// test virtualenv), where the stored object is checked to be ciphertext.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, user, api, sleep, freePort, launchBrowser, openApp, screenshot, until, expectMovingVideo } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const MOTO = join(here, '..', '..', 'target', 'test-venv', 'bin', 'moto_server');
const RECORD_SECONDS = 12;
// A recorded length cannot exceed the time the test held the recording on (a second for the
// clocks), and covers most of it: media starts once the page's connection to the recording
// peer is up (ICE and DTLS), and the test's own clicks and waits add to its wall time; a
// loaded 2-core machine has been seen to stretch the two together past 3 s.
const SETUP_SLACK_SECONDS = 6;
const within = (seconds, wall) => seconds <= wall + 1 && seconds >= wall - SETUP_SLACK_SECONDS;
const EBML_MAGIC = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);

/** Per stream of `file`: kind/codec, packet count and the span of its timestamps in seconds. */
function probeStreams(file) {
  const run = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'stream=index,codec_type,codec_name:packet=stream_index,pts_time,duration_time', '-of', 'json', file],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (run.status !== 0) throw new Error(`ffprobe cannot read the recording: ${run.stderr}`);
  const out = JSON.parse(run.stdout);
  return out.streams.map((s) => {
    const times = out.packets.filter((p) => p.stream_index === s.index && p.pts_time !== undefined);
    const first = Math.min(...times.map((p) => Number(p.pts_time)));
    const lastPacket = times.reduce((a, p) => (Number(p.pts_time) > Number(a.pts_time) ? p : a), times[0]);
    const end = Number(lastPacket?.pts_time ?? 0) + Number(lastPacket?.duration_time ?? 0);
    return { kind: s.codec_type, codec: s.codec_name, packets: times.length, start: first, duration: end - first };
  });
}

/** Grey levels of the frame of video stream `stream` (0, 1, …) at `at` seconds, decoded from
 * the start of the stream (output seeking), so every frame before it must decode too. */
function decodedFrame(file, at, stream = 0) {
  const run = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-map', `0:v:${stream}`, '-ss', String(at), '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], {
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0 || run.stdout.length === 0) throw new Error(`no frame of video ${stream} decodes at ${at} s: ${run.stderr}`);
  return run.stdout;
}

/** Times (s) of the keyframes of video stream `stream`. */
function keyframeTimes(file, stream) {
  const run = spawnSync('ffprobe', ['-v', 'error', '-select_streams', `v:${stream}`, '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', file], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return run.stdout
    .split('\n')
    .filter((l) => l.includes('K'))
    .map((l) => Number(l.split(',')[0]));
}

/** moto's S3 server on a free port, with a `recordings` bucket. */
async function startMoto() {
  if (!existsSync(MOTO)) throw new Error(`${MOTO} is missing: scripts/test installs it (pip install "moto[server]")`);
  const port = await freePort();
  const child = spawn(MOTO, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      const r = await fetch(`${endpoint}/recordings`, { method: 'PUT' });
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('moto did not start');
    await sleep(100);
  }
  return {
    endpoint,
    env: {
      STORAGE_PROVIDER: 's3',
      STORAGE_BUCKET: 'recordings',
      STORAGE_REGION: 'us-east-1',
      STORAGE_ENDPOINT: endpoint,
      STORAGE_ACCESS_KEY_ID: 'test',
      STORAGE_SECRET_ACCESS_KEY: 'test',
    },
    stop: () => child.kill('SIGTERM'),
  };
}

for (const storage of ['local disk', 's3']) {
  describe(`recording a browser call through the web app (${storage})`, () => {
    let moto, server, browser, provider, patient, P, Q, callId, recordingId, recordedWallSeconds, work;

    before(async () => {
      if (storage === 's3') moto = await startMoto();
      server = await startServer(moto?.env ?? {});
      browser = await launchBrowser();
      provider = user('provider');
      patient = user('patient');
      work = mkdtempSync(join(tmpdir(), 'vytalcall-rec-e2e-'));
    });
    after(async () => {
      for (const s of [P, Q]) if (s?.problems.length) console.log(`page problems (${s.who.role}):`, s.problems);
      await browser?.close();
      await server?.stop();
      moto?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('holds a video call between the provider and the patient', async () => {
      P = await openApp(browser, server, provider, { fragment: `&patient=${patient.id}` });
      Q = await openApp(browser, server, patient);
      await P.page.getByTestId('start-call').click();
      await Q.page.getByTestId('incoming-call').waitFor({ state: 'visible' });
      await Q.page.getByTestId('accept-call').click();
      await expectMovingVideo(P.page, 'provider sees patient');
      await expectMovingVideo(Q.page, 'patient sees provider');
      const calls = await api(server, provider, 'GET', '/calls');
      callId = calls.body.calls[0].id;
      assert.equal(calls.body.calls[0].status, 'active');
      assert.match(String(callId), /^[0-9a-f-]{36}$/, 'the call id is known');
    });

    it('the provider records with the patient’s consent; both see the indicator', async () => {
      // Pressing Record with no consent of the patient on record asks the provider to attest a
      // spoken yes; the patient is then asked in the app as well.
      // The patient's page sends media to the recorder only after the patient's own yes: an
      // attested spoken yes makes it ask, not send.
      const patientOffers = [];
      Q.page.on('request', (r) => {
        if (r.method() === 'POST' && /\/recordings\/[^/]+\/offer$/.test(r.url())) patientOffers.push(Date.now());
      });
      await P.page.getByTestId('toggle-recording').click();
      await P.page.getByTestId('record-confirm').waitFor({ state: 'visible' });
      await P.page.getByTestId('record-verbal').click();
      await P.page.getByTestId('recording-indicator').waitFor({ state: 'visible' });
      const startedAt = Date.now();
      await Q.page.getByTestId('recording-indicator').waitFor({ state: 'visible' });
      await Q.page.getByTestId('consent-dialog').waitFor({ state: 'visible' });
      await screenshot(Q.page, `10-patient-recording-consent-${storage.replace(' ', '-')}`);
      assert.deepEqual(patientOffers, [], 'the patient’s page asks before it sends anything to the recorder');
      await Q.page.getByTestId('consent-yes').click();
      await Q.page.getByTestId('consent-dialog').waitFor({ state: 'hidden' });
      for (const deadline = Date.now() + 20000; patientOffers.length === 0 && Date.now() < deadline; ) await sleep(100);
      assert.ok(patientOffers.length > 0, 'the patient’s page connects to the recorder after their yes');
      recordingId = await P.page.getByTestId('recording-indicator').getAttribute('data-recording-id');
      assert.match(String(recordingId), /^[0-9a-f-]{36}$/);

      const meta = await api(server, provider, 'GET', `/calls/${callId}/recordings/${recordingId}`);
      assert.equal(meta.status, 200, JSON.stringify(meta.body));
      assert.equal(meta.body.status, 'recording');
      assert.deepEqual([...meta.body.participants].sort(), [patient.id, provider.id].sort());

      // Media keeps flowing in the call itself while it is recorded.
      await sleep(RECORD_SECONDS * 1000 - (Date.now() - startedAt));
      await expectMovingVideo(P.page, 'provider still sees the patient while recording');
      await P.page.getByTestId('toggle-recording').click();
      await P.page.getByTestId('recording-indicator').waitFor({ state: 'hidden' });
      recordedWallSeconds = (Date.now() - startedAt) / 1000;
      await Q.page.getByTestId('recording-indicator').waitFor({ state: 'hidden' });
    });

    it('the recording the provider downloads decrypts and plays: audio and video of the recorded length, a real picture', async (t) => {
      let meta;
      const deadline = Date.now() + 20000;
      do {
        meta = await api(server, provider, 'GET', `/calls/${callId}/recordings/${recordingId}`);
        if (meta.body?.status !== 'recording') break;
        await sleep(200);
      } while (Date.now() < deadline);
      assert.equal(meta.body.status, 'completed', JSON.stringify(meta.body));

      const r = await fetch(`${server.url}${meta.body.mediaUrl}`, { headers: { authorization: `Bearer ${provider.token}` } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'video/webm');
      const media = Buffer.from(await r.arrayBuffer());
      assert.equal(media.length, meta.body.sizeBytes, 'the download is the whole recording');
      assert.ok(media.subarray(0, 4).equals(EBML_MAGIC), 'the download is a WebM file');
      const file = join(work, 'recording.webm');
      writeFileSync(file, media);

      const streams = probeStreams(file);
      t.diagnostic(`wall ${recordedWallSeconds.toFixed(2)} s; metadata ${meta.body.durationMs} ms; ${JSON.stringify(streams)}`);
      // Two participants, each sending audio and video to the recording peer.
      const audio = streams.filter((s) => s.kind === 'audio');
      const video = streams.filter((s) => s.kind === 'video');
      assert.equal(audio.length, 2, 'one audio stream per participant');
      assert.equal(video.length, 2, 'one video stream per participant');
      for (const s of [...audio, ...video]) {
        assert.ok(['opus', 'vp8', 'vp9'].includes(s.codec), `codec ${s.codec}`);
        assert.ok(
          within(s.start + s.duration, recordedWallSeconds),
          `${s.kind} stream ends at ${(s.start + s.duration).toFixed(2)} s of a ${recordedWallSeconds.toFixed(2)} s recording`,
        );
        assert.ok(within(s.duration, recordedWallSeconds), `${s.kind} lasts ${s.duration.toFixed(2)} s, recorded ${recordedWallSeconds.toFixed(2)} s`);
        // Opus sends 50 packets/s; Chromium's fake camera about 20 frames/s. A busy machine
        // slows the camera (and may drop the odd audio packet): the floors say "a real,
        // continuous stream", not "a fast machine".
        const rate = s.packets / s.duration;
        assert.ok(s.kind === 'audio' ? rate >= 35 : rate >= 5, `${s.kind}: ${rate.toFixed(1)} packets/s written`);
      }
      assert.ok(within(meta.body.durationMs / 1000, recordedWallSeconds), `metadata duration ${meta.body.durationMs} ms`);

      // Every participant's video decodes, and a player seeking anywhere finds a keyframe of
      // each video nearby: the recorder asks each sender for one every 4 s (the floor leaves
      // a busy machine's sender room to answer late).
      for (let v = 0; v < video.length; v++) {
        const keys = keyframeTimes(file, v);
        const end = video[v].start + video[v].duration;
        const gaps = [...keys.slice(1), end].map((t, i) => t - keys[i]);
        t.diagnostic(`video ${v}: keyframes at ${keys.map((k) => k.toFixed(1)).join(', ')} s`);
        assert.ok(keys.length >= 2 && Math.max(...gaps) < 9, `video ${v}: keyframes at ${keys} (gaps ${gaps.map((g) => g.toFixed(1))})`);
        const pixels = decodedFrame(file, recordedWallSeconds / 2, v);
        const [lo, hi] = pixels.reduce(([a, b], p) => [Math.min(a, p), Math.max(b, p)], [255, 0]);
        assert.ok(pixels.length >= 320 * 240, `video ${v}: a real frame (${pixels.length} pixels)`);
        assert.ok(hi - lo > 64, `video ${v}: the middle frame is not blank (grey ${lo}..${hi})`);
      }
    });

    it('the patient cannot fetch the recording’s metadata or media, and the stored bytes are ciphertext', async () => {
      const path = `/calls/${callId}/recordings/${recordingId}`;
      for (const p of [path, `${path}/media`]) {
        const r = await api(server, patient, 'GET', p);
        assert.ok([403, 404].includes(r.status), `patient GET ${p}: ${r.status}`);
        assert.match(JSON.stringify(r.body), /"status":40[34]/, 'a problem document');
      }
      const stranger = user('provider');
      const r = await api(server, stranger, 'GET', path);
      assert.ok([403, 404].includes(r.status), `foreign provider: ${r.status}`);

      const stored =
        storage === 's3'
          ? Buffer.from(await (await fetch(`${moto.endpoint}/recordings/recordings/${callId}/${recordingId}.vrec`)).arrayBuffer())
          : readFileSync(join(server.dataDir, 'recordings', callId, `${recordingId}.vrec`));
      assert.ok(stored.length > 1000, `the stored object exists (${stored.length} bytes)`);
      assert.equal(stored.indexOf(EBML_MAGIC), -1, 'no WebM header in the stored bytes: they are encrypted');
    });
  });
}
