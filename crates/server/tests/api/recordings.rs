//! Recording, end to end through the real server: consent rules, a real WebRTC sender (str0m)
//! streaming real VP8 and Opus (encoded by ffmpeg at test time) to the recording peer, the
//! stored file checked with ffprobe and a decoded frame, ranges, access, tampering,
//! retention and legal hold, and the same pipeline against an S3-compatible server (moto).

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, RtcConfig};
use vytalcall::recording::demux;
use vytalcall::recording::webm::Frame;

/// Real encoded media: 12 s of a moving test pattern (VP8, 320x240, a key frame every
/// second) and a tone (Opus), made by ffmpeg once per test run.
pub fn sample_media() -> &'static (Vec<Frame>, Vec<Frame>) {
    static MEDIA: OnceLock<(Vec<Frame>, Vec<Frame>)> = OnceLock::new();
    MEDIA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("sample.webm");
        let status = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=320x240:rate=25",
                "-f",
                "lavfi",
                "-i",
            ])
            .args([
                "sine=frequency=440:sample_rate=48000",
                "-t",
                "12",
                "-c:v",
                "libvpx",
                "-g",
                "25",
                "-b:v",
                "300k",
            ])
            .args(["-c:a", "libopus", "-ac", "2", "-b:a", "48k"])
            .arg(&file)
            .status()
            .expect("ffmpeg is installed (scripts/test installs it)");
        assert!(status.success(), "ffmpeg made the sample");
        let bytes = std::fs::read(&file).expect("sample");
        let (tracks, frames) = demux::read(&bytes).expect("sample demuxes");
        let number = |codec: &str| tracks.iter().find(|t| t.codec == codec).expect("track").number;
        let (v, a) = (number("V_VP8"), number("A_OPUS"));
        let video: Vec<Frame> = frames.iter().filter(|f| f.track == v).cloned().collect();
        let audio: Vec<Frame> = frames.iter().filter(|f| f.track == a).cloned().collect();
        assert!(
            video.len() > 250 && audio.len() > 500,
            "{} {}",
            video.len(),
            audio.len()
        );
        (video, audio)
    })
}

/// A browser stand-in: a str0m peer that sends `seconds` of the sample to the recording
/// peer, negotiated through the offer endpoint as `who`.
pub(crate) async fn send_media(
    app: &TestApp,
    who: &User,
    call: &str,
    recording: &str,
    seconds: u64,
) -> Result<(), String> {
    send_media_to(&app.http, &app.base, who, call, recording, seconds, None)
        .await
        .map(|_| ())
}

/// Frames a sending peer handed to its connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    pub video: usize,
    pub audio: usize,
}

/// The sending peer against any server (`base`); reports the moment media starts to flow
/// through `connected`, and returns how many frames it sent.
pub async fn send_media_to(
    http: &reqwest::Client,
    base: &str,
    who: &User,
    call: &str,
    recording: &str,
    seconds: u64,
    mut connected: Option<tokio::sync::oneshot::Sender<Instant>>,
) -> Result<Sent, String> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(vytalcall::recording::peer::crypto_provider())
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
    let mut api = rtc.sdp_api();
    let audio_mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let video_mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or("no offer")?;
    let r = http
        .post(format!("{base}/webrtc/calls/{call}/recordings/{recording}/offer"))
        .bearer_auth(&who.token)
        .json(&json!({ "type": "offer", "sdp": offer.to_sdp_string() }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != StatusCode::OK {
        return Err(format!(
            "offer refused: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        ));
    }
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    let answer = SdpAnswer::from_sdp_string(body["sdp"].as_str().ok_or("no sdp")?).map_err(|e| e.to_string())?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| e.to_string())?;

    let (video, audio) = sample_media();
    let limit = seconds * 1000;
    let mut queue: Vec<(Mid, bool, &Frame)> = video
        .iter()
        .map(|f| (video_mid, true, f))
        .chain(audio.iter().map(|f| (audio_mid, false, f)))
        .filter(|(_, _, f)| f.time_ms < limit)
        .collect();
    queue.sort_by_key(|(_, _, f)| f.time_ms);
    let mut next = 0;
    let mut sent = Sent::default();
    let mut connected_at: Option<Instant> = None;
    let mut hang_up_at: Option<Instant> = None;
    let mut buf = vec![0u8; 2000];
    // Generous: on a busy machine the DTLS handshake alone can take many seconds; what is
    // checked is that media flows, not how soon.
    let deadline = Instant::now() + Duration::from_secs(seconds + 60);
    loop {
        let timeout = loop {
            match rtc.poll_output().map_err(|e| e.to_string())? {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(Event::Connected) => {
                    let now = Instant::now();
                    connected_at = Some(now);
                    if let Some(tx) = connected.take() {
                        let _ = tx.send(now);
                    }
                }
                Output::Event(_) => {}
            }
        };
        if let Some(start) = connected_at {
            let elapsed = start.elapsed().as_millis() as u64;
            while next < queue.len() && queue[next].2.time_ms <= elapsed {
                let (mid, is_video, f) = queue[next];
                let writer = rtc.writer(mid).ok_or("no writer")?;
                let codec = if is_video { Codec::Vp8 } else { Codec::Opus };
                let pt = writer
                    .payload_params()
                    .find(|p| p.spec().codec == codec)
                    .map(|p| p.pt())
                    .ok_or("no pt")?;
                let time = if is_video {
                    MediaTime::from_90khz(f.time_ms * 90)
                } else {
                    MediaTime::from_millis(f.time_ms).rebase(str0m::media::Frequency::FORTY_EIGHT_KHZ)
                };
                writer
                    .write(pt, Instant::now(), time, f.data.clone())
                    .map_err(|e| e.to_string())?;
                if is_video {
                    sent.video += 1;
                } else {
                    sent.audio += 1;
                }
                next += 1;
            }
            if next >= queue.len() {
                // Keep the connection turning a little longer so the last writes leave (the
                // pacer may hold them) before hanging up.
                let done = *hang_up_at.get_or_insert_with(|| Instant::now() + Duration::from_millis(300));
                if Instant::now() >= done {
                    return Ok(sent);
                }
            }
        }
        if Instant::now() > deadline {
            return Err("media did not flow in time".into());
        }
        let wait = timeout
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(5));
        match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
            Ok(Ok((n, source))) => {
                let contents = buf[..n].try_into().map_err(|_| "bad datagram")?;
                let input = Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: local,
                        contents,
                    },
                );
                rtc.handle_input(input).map_err(|e| e.to_string())?;
            }
            _ => rtc
                .handle_input(Input::Timeout(Instant::now()))
                .map_err(|e| e.to_string())?,
        }
    }
}

/// On a server started as a process (`base`): a call answered by the patient and recorded
/// with both participants' consent. Returns the people, the call id and the recording id.
pub async fn recorded_call(http: &reqwest::Client, base: &str) -> (Cast, String, String) {
    let c = cast();
    let id_of = |v: Value| v["id"].as_str().expect("id").to_string();
    let r = http
        .post(format!("{base}/webrtc/calls"))
        .bearer_auth(&c.provider.token)
        .json(&json!({ "patientId": c.patient.id, "type": "video" }))
        .send()
        .await
        .expect("create call");
    let call = id_of(expect_status(r, StatusCode::CREATED).await);
    let r = http
        .post(format!("{base}/webrtc/calls/{call}/answer"))
        .bearer_auth(&c.patient.token)
        .json(&json!({}))
        .send()
        .await
        .expect("answer");
    expect_status(r, StatusCode::OK).await;
    let r = http
        .post(format!("{base}/webrtc/calls/{call}/record"))
        .bearer_auth(&c.provider.token)
        .json(&start_body(&[&c.patient, &c.provider]))
        .send()
        .await
        .expect("start recording");
    let rec = id_of(expect_status(r, StatusCode::CREATED).await);
    (c, call, rec)
}

fn start_body(people: &[&User]) -> Value {
    json!({ "consentObtained": true, "consentedParticipants": people.iter().map(|u| u.id).collect::<Vec<_>>(), "consentMethod": "verbal" })
}

pub(crate) async fn start(app: &TestApp, c: &Cast, call: &str) -> String {
    let r = app
        .post(
            &c.provider,
            &format!("/webrtc/calls/{call}/record"),
            start_body(&[&c.patient, &c.provider]),
        )
        .await;
    let body = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(body["status"], "recording");
    body["id"].as_str().expect("recording id").to_string()
}

/// The provider stops the recording; returns its metadata after the stop.
pub(crate) async fn stop(app: &TestApp, c: &Cast, call: &str, rec: &str) -> Value {
    let stopped = expect_status(
        app.post(
            &c.provider,
            &format!("/webrtc/calls/{call}/recordings/{rec}/stop"),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stopped["status"], "completed", "{stopped}");
    stopped
}

async fn get_bytes(app: &TestApp, who: &User, path: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url(path)).bearer_auth(&who.token);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.expect("request")
}

pub struct Probe {
    pub kinds: Vec<String>,
    pub duration: f64,
}

pub fn ffprobe(file: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name:format=duration",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .expect("ffprobe is installed");
    assert!(
        out.status.success(),
        "ffprobe reads the file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let kinds = v["streams"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| {
                    format!(
                        "{}/{}",
                        s["codec_type"].as_str().unwrap_or(""),
                        s["codec_name"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    Probe { kinds, duration }
}

/// The grey levels of one decoded video frame at `at` seconds.
fn decoded_frame(file: &Path, at: f64) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &at.to_string(), "-i"])
        .arg(file)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "a frame decodes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn not_blank(pixels: &[u8]) -> bool {
    let (min, max) = pixels.iter().fold((255u8, 0u8), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
    pixels.len() >= 320 * 240 && max - min > 64
}

fn stored_file(app: &TestApp, call: &str, recording: &str) -> PathBuf {
    app.data_dir.path().join(format!("recordings/{call}/{recording}.vrec"))
}

/// Records ~10 s through the real pipeline and checks what the provider downloads.
async fn record_and_check(app: &TestApp) -> (Cast, String, String, Vec<u8>) {
    let c = cast();
    let call = app.active_call(&c.provider, &c.patient).await;
    let rec = start(app, &c, &call).await;
    send_media(app, &c.patient, &call, &rec, 10).await.expect("media flows");
    stop(app, &c, &call, &rec).await;

    let meta = expect_status(
        app.get(&c.provider, &format!("/webrtc/calls/{call}/recordings/{rec}"))
            .await,
        StatusCode::OK,
    )
    .await;
    let size = meta["sizeBytes"].as_i64().expect("size") as usize;
    assert!(meta["consents"].as_array().is_some_and(|a| a.len() >= 2), "{meta}");
    assert_eq!(meta["format"], "video/webm");

    let r = get_bytes(
        app,
        &c.provider,
        &format!("/webrtc/calls/{call}/recordings/{rec}/media"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "video/webm");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    let webm = r.bytes().await.expect("media").to_vec();
    assert_eq!(webm.len(), size);

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("recording.webm");
    std::fs::write(&file, &webm).expect("write");
    let probe = ffprobe(&file);
    assert_eq!(
        probe.kinds,
        vec!["audio/opus", "video/vp8"],
        "the patient's streams, the unused tracks voided"
    );
    // The timeline counts from the recording's start; the sender's 10 s begin at its first frame.
    let played = probe.duration - first_frame_secs(&webm);
    assert!(
        (played - 10.0).abs() <= 1.0,
        "{played:.2} s of media after {:.2} s of set-up",
        probe.duration - played
    );
    assert!(
        not_blank(&decoded_frame(&file, 5.0)),
        "a decoded frame shows the picture"
    );
    (c, call, rec, webm)
}

#[tokio::test]
async fn a_consented_call_is_recorded_encrypted_and_plays_back_with_ranges() {
    let app = spawn_app().await;
    let (c, call, rec, webm) = record_and_check(&app).await;
    let media = format!("/webrtc/calls/{call}/recordings/{rec}/media");

    // At rest there is no WebM to see: header magic, then ciphertext.
    let stored = std::fs::read(stored_file(&app, &call, &rec)).expect("stored object");
    assert_eq!(&stored[..8], b"VYTLREC1");
    assert!(
        !stored.windows(4).any(|w| w == [0x1F, 0x43, 0xB6, 0x75]),
        "no cluster in the clear"
    );

    // Ranges, as a player asks for them.
    let r = get_bytes(&app, &c.provider, &media, Some("bytes=1000-4999")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1000-4999/{}", webm.len()).as_str()
    );
    assert_eq!(r.bytes().await.expect("range").to_vec(), webm[1000..5000].to_vec());
    let r = get_bytes(&app, &c.provider, &media, Some("bytes=-300")).await;
    assert_eq!(
        r.bytes().await.expect("suffix").to_vec(),
        webm[webm.len() - 300..].to_vec()
    );
    let r = get_bytes(&app, &c.admin, &media, Some(&format!("bytes={}-", webm.len()))).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Only the call's providers and admins; every access audited.
    for (who, expected) in [
        (&c.patient, StatusCode::FORBIDDEN),
        (&c.other_provider, StatusCode::NOT_FOUND),
        (&c.other_patient, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            get_bytes(&app, who, &media, None).await.status(),
            expected,
            "{}",
            who.role
        );
        assert_eq!(
            app.get(who, &format!("/webrtc/calls/{call}/recordings/{rec}"))
                .await
                .status(),
            expected
        );
    }
    let entries = app.audit_entries().await;
    let count = |action: &str, outcome: &str| {
        entries
            .iter()
            .filter(|(a, o, _, _)| a == action && o == outcome)
            .count()
    };
    assert!(count("recording.access", "success") >= 3, "{entries:?}");
    assert!(count("recording.access", "denied") >= 3, "{entries:?}");
    assert_eq!(count("recording.start", "success"), 1);
    assert_eq!(count("recording.stop", "success"), 1);
    assert!(count("recording.connect", "success") >= 1);
}

#[tokio::test]
async fn a_flipped_byte_in_storage_is_refused_on_playback() {
    let app = spawn_app().await;
    let (c, call, rec, _) = record_and_check(&app).await;
    let path = stored_file(&app, &call, &rec);
    let mut stored = std::fs::read(&path).expect("stored");
    let at = stored.len() / 2;
    stored[at] ^= 0x40;
    std::fs::write(&path, &stored).expect("tamper");
    let url = app.url(&format!("/webrtc/calls/{call}/recordings/{rec}/media"));
    // Refused: an error status, or a response cut off before it completes.
    let refused = match app.http.get(url).bearer_auth(&c.provider.token).send().await {
        Err(_) => true,
        Ok(r) => !r.status().is_success() || r.bytes().await.is_err(),
    };
    assert!(refused, "altered media must never be served whole");
    // The operator export refuses it as well.
    let out = app.data_dir.path().join("export.webm");
    let status = cli(&app, &["recording", "export", &rec, out.to_str().expect("path")]);
    assert!(!status.status.success(), "export of an altered recording fails");
    assert!(!out.exists());
}

#[tokio::test]
async fn recording_refuses_to_start_without_everyones_consent_and_names_who_is_missing() {
    let app = spawn_app().await;
    let c = cast();
    let call = app.active_call(&c.provider, &c.patient).await;
    let r = app
        .post(
            &c.provider,
            &format!("/webrtc/calls/{call}/record"),
            start_body(&[&c.provider]),
        )
        .await;
    let problem = expect_problem(r, StatusCode::CONFLICT, None).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&c.patient.id.to_string())),
        "{problem}"
    );
    assert!(
        !problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains(&c.provider.id.to_string()),
        "{problem}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM call_recordings").await, 0);
    // Nothing the refused request attested was kept.
    assert_eq!(app.count("SELECT COUNT(*) FROM recording_consents").await, 0);
    // A stranger cannot be declared as consenting.
    let r = app
        .post(
            &c.provider,
            &format!("/webrtc/calls/{call}/record"),
            start_body(&[&c.patient, &c.provider, &c.other_patient]),
        )
        .await;
    expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY, Some("consentedParticipants")).await;
    // Consent given on answering counts.
    let call2 = app.create_call(&c.provider, &c.patient).await;
    let r = app
        .post(
            &c.patient,
            &format!("/webrtc/calls/{call2}/answer"),
            json!({ "consentToRecording": true }),
        )
        .await;
    expect_status(r, StatusCode::OK).await;
    let r = app
        .post(
            &c.provider,
            &format!("/webrtc/calls/{call2}/record"),
            start_body(&[&c.provider]),
        )
        .await;
    let rec = expect_status(r, StatusCode::CREATED).await;
    // One recording at a time.
    let r = app
        .post(
            &c.provider,
            &format!("/webrtc/calls/{call2}/record"),
            start_body(&[&c.provider]),
        )
        .await;
    expect_problem(r, StatusCode::CONFLICT, None).await;
    let r = app
        .post(
            &c.provider,
            &format!(
                "/webrtc/calls/{call2}/recordings/{}/stop",
                rec["id"].as_str().unwrap_or("")
            ),
            json!({}),
        )
        .await;
    expect_status(r, StatusCode::OK).await;
    let entries = app.audit_entries().await;
    assert!(
        entries
            .iter()
            .any(|(a, o, _, _)| a == "recording.start" && o == "denied"),
        "{entries:?}"
    );
}

#[tokio::test]
async fn a_participant_without_consent_is_not_recorded_and_a_refusal_is_recorded_and_audited() {
    let app = spawn_app().await;
    let c = cast();
    let call = app.active_call(&c.provider, &c.patient).await;
    let rec = start(&app, &c, &call).await;
    // The patient withdraws: from now on the recording peer refuses their media.
    crate::consent::say(&app, &c.patient, &call, false).await;
    let err = send_media(&app, &c.patient, &call, &rec, 1).await.expect_err("refused");
    assert!(err.contains("409") && err.contains("consent-required"), "{err}");
    // Asked again, they agree: now they are connected.
    crate::consent::say(&app, &c.patient, &call, true).await;
    send_media(&app, &c.patient, &call, &rec, 2)
        .await
        .expect("recorded after consenting");
    let meta = expect_status(
        app.get(&c.provider, &format!("/webrtc/calls/{call}/recordings/{rec}"))
            .await,
        StatusCode::OK,
    )
    .await;
    let consents = meta["consents"].as_array().cloned().unwrap_or_default();
    let patient_said: Vec<bool> = consents
        .iter()
        .filter(|s| s["userId"] == c.patient.id.to_string())
        .map(|s| s["consented"].as_bool().unwrap_or(true))
        .collect();
    assert_eq!(patient_said, vec![true, false, true], "{meta}");
    let entries = app.audit_entries().await;
    assert!(entries.iter().any(|(a, o, actor, _)| a == "recording.connect"
        && o == "denied"
        && actor.as_deref() == Some(&c.patient.id.to_string())));
    assert!(
        entries
            .iter()
            .filter(|(a, _, actor, _)| a == "consent.record" && actor.as_deref() == Some(&c.patient.id.to_string()))
            .count()
            >= 2
    );
}

fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("DATA_DIR", app.data_dir.path())
        .env("JWT_SECRET", SECRET)
        .env("RECORDING_RETENTION_DAYS", "0")
        .env_remove("STORAGE_PROVIDER")
        .env_remove("RECORDING_MASTER_KEY")
        .env_remove("VYTALCALL_ENV")
        .output()
        .expect("run vytalcall")
}

#[tokio::test]
async fn retention_deletes_expired_recordings_except_those_on_legal_hold_and_export_decrypts() {
    let app = spawn_app().await;
    let c = cast();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let call = app.active_call(&c.provider, &c.patient).await;
        let rec = start(&app, &c, &call).await;
        send_media(&app, &c.patient, &call, &rec, 2).await.expect("media");
        stop(&app, &c, &call, &rec).await;
        ids.push((call, rec));
    }
    let (held_call, held) = &ids[0];
    let hold = format!("/webrtc/calls/{held_call}/recordings/{held}/legal-hold");
    expect_problem(
        app.post(&c.provider, &hold, json!({ "hold": true })).await,
        StatusCode::FORBIDDEN,
        None,
    )
    .await;
    let meta = expect_status(app.post(&c.admin, &hold, json!({ "hold": true })).await, StatusCode::OK).await;
    assert_eq!(meta["legalHold"], true);

    let out = app.data_dir.path().join("held.webm");
    let export = cli(&app, &["recording", "export", held, out.to_str().expect("path")]);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let probe = ffprobe(&out);
    assert!(probe.kinds.contains(&"video/vp8".to_string()), "{:?}", probe.kinds);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).expect("export").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "decrypted PHI is owner-only");
    }
    let again = cli(
        &app,
        &[
            "recording",
            "export",
            held,
            out.to_str().expect("path"),
            "--operator",
            "ops-a",
        ],
    );
    assert!(!again.status.success(), "an existing file is never overwritten");
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    let named = app.data_dir.path().join("named.webm");
    let export = cli(
        &app,
        &[
            "recording",
            "export",
            held,
            named.to_str().expect("path"),
            "--operator",
            "ops-a",
        ],
    );
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));

    let run = cli(&app, &["retention", "run"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("deleted 1"),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let (gone_call, gone) = &ids[1];
    assert_eq!(
        app.get(&c.provider, &format!("/webrtc/calls/{gone_call}/recordings/{gone}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(!stored_file(&app, gone_call, gone).exists(), "deleted from storage");
    expect_status(
        app.get(&c.provider, &format!("/webrtc/calls/{held_call}/recordings/{held}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(stored_file(&app, held_call, held).exists());
    let entries = app.audit_entries().await;
    assert!(
        entries
            .iter()
            .any(|(a, o, _, _)| a == "recording.delete" && o == "success"),
        "{entries:?}"
    );
    let exports: Vec<_> = entries.iter().filter(|(a, _, _, _)| a == "recording.export").collect();
    assert_eq!(exports.len(), 2, "{exports:?}");
    assert!(
        exports[0].2.as_deref().is_some_and(|u| !u.is_empty()),
        "the OS user: {exports:?}"
    );
    assert_eq!(exports[1].2.as_deref(), Some("ops-a"));
    assert!(
        entries
            .iter()
            .any(|(a, o, _, _)| a == "recording.legal_hold" && o == "denied")
    );
}

/// A real S3-compatible server for one test: moto, from the test virtualenv.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server storing its recordings in `moto`'s bucket `recordings` (created by the caller).
pub async fn spawn_s3_app(moto: &Moto) -> TestApp {
    spawn_app_with(&[
        ("STORAGE_PROVIDER", "s3"),
        ("STORAGE_BUCKET", "recordings"),
        ("STORAGE_ENDPOINT", &moto.endpoint),
        ("STORAGE_ACCESS_KEY_ID", "test"),
        ("STORAGE_SECRET_ACCESS_KEY", "test"),
    ])
    .await
}

/// moto with the bucket `recordings` the S3 servers use.
pub async fn moto_with_bucket() -> Moto {
    let moto = moto();
    let created = reqwest::Client::new()
        .put(format!("{}/recordings", moto.endpoint))
        .send()
        .await
        .expect("create bucket");
    assert!(created.status().is_success(), "{}", created.status());
    moto
}

/// When media started in a recording (seconds on its timeline, which counts from the
/// recording's start, before anyone's connection was set up).
pub fn first_frame_secs(webm: &[u8]) -> f64 {
    let (_, frames) = vytalcall::recording::demux::read(webm).expect("demuxes");
    frames.iter().map(|f| f.time_ms).min().unwrap_or(0) as f64 / 1000.0
}

/// Every frame of `file` decodes: it plays to its end without errors.
pub fn plays_cleanly(file: &Path) {
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "the recording decodes cleanly: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
}

pub fn moto() -> Moto {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/moto_server");
    assert!(
        bin.exists(),
        "moto_server missing: run scripts/test, which installs it into target/test-venv"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a: SocketAddr| a.port())
        .expect("free port");
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto { child, endpoint }
}

#[tokio::test]
async fn recordings_are_stored_in_s3_compatible_storage_with_multipart_upload() {
    let moto = moto_with_bucket().await;
    let app = spawn_s3_app(&moto).await;
    let (_, call, rec, webm) = record_and_check(&app).await;
    // The object is in the bucket (encrypted), and no spool file is left behind.
    let object = reqwest::Client::new()
        .get(format!("{}/recordings/recordings/{call}/{rec}.vrec", moto.endpoint))
        .send()
        .await
        .expect("get object");
    assert_eq!(object.status(), StatusCode::OK);
    let stored = object.bytes().await.expect("bytes");
    assert_eq!(&stored[..8], b"VYTLREC1");
    assert!(stored.len() > webm.len() - 4096, "the whole recording is in the object");
    assert!(
        !app.data_dir
            .path()
            .join(format!("spool/recordings/{call}/{rec}.vrec"))
            .exists()
    );
}

#[path = "recording_bench.rs"]
mod bench;

/// A recording stopped before anyone sent media is still a file ffprobe opens (tracks
/// declared, no frames), not one it reads as truncated.
#[tokio::test]
async fn a_recording_nobody_sent_media_to_is_still_a_valid_file() {
    let app = spawn_app().await;
    let c = cast();
    let call = app.active_call(&c.provider, &c.patient).await;
    let rec = start(&app, &c, &call).await;
    stop(&app, &c, &call, &rec).await;
    let r = get_bytes(
        &app,
        &c.provider,
        &format!("/webrtc/calls/{call}/recordings/{rec}/media"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("empty.webm");
    std::fs::write(&file, r.bytes().await.expect("media")).expect("write");
    let probe = ffprobe(&file);
    assert_eq!(probe.kinds.len(), 4, "{:?}", probe.kinds);
}

/// Makes every insert into `call_recordings` fail as a broken database would, while the
/// rest of the database keeps working.
async fn break_recording_inserts(app: &TestApp) {
    let statements: &[&'static str] = if test_database_is_postgres() {
        &[
            "CREATE FUNCTION refuse_recording_insert() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'the disk is failing'; END $$",
            "CREATE TRIGGER refuse_recording_insert BEFORE INSERT ON call_recordings \
             FOR EACH ROW EXECUTE FUNCTION refuse_recording_insert()",
        ]
    } else {
        &[
            "CREATE TRIGGER refuse_recording_insert BEFORE INSERT ON call_recordings \
           BEGIN SELECT RAISE(ABORT, 'the disk is failing'); END",
        ]
    };
    for sql in statements {
        sqlx::query(*sql)
            .execute(&app.db.pool)
            .await
            .expect("install the failure");
    }
}

#[tokio::test]
async fn a_database_failure_while_starting_a_recording_is_an_internal_error_and_keeps_nothing() {
    let app = spawn_app().await;
    let c = cast();
    let call = app.active_call(&c.provider, &c.patient).await;
    break_recording_inserts(&app).await;
    let r = app
        .post(
            &c.provider,
            &format!("/webrtc/calls/{call}/record"),
            start_body(&[&c.patient, &c.provider]),
        )
        .await;
    let problem = expect_problem(r, StatusCode::INTERNAL_SERVER_ERROR, None).await;
    assert!(
        !problem["detail"].as_str().unwrap_or("").contains("already"),
        "not reported as already recording: {problem}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM call_recordings").await, 0);
    // The request's consent statements went with the failed transaction.
    assert_eq!(app.count("SELECT COUNT(*) FROM recording_consents").await, 0);
}

#[tokio::test]
async fn a_second_running_recording_of_a_call_is_refused_by_the_store_as_already_running() {
    use vytalcall::recording::repo;
    let app = spawn_app().await;
    let c = cast();
    let call = app.active_call(&c.provider, &c.patient).await;
    let rec = start(&app, &c, &call).await;
    let running = repo::load(&app.db.pool, rec.parse().expect("recording id"))
        .await
        .expect("load")
        .expect("the running recording");
    // What a start that raced past the check would write: the same call, another id.
    let rival = repo::RecordingRow {
        id: vytalcall_domain::RecordingId::new_random(),
        ..running
    };
    let mut conn = app.db.pool.acquire().await.expect("connection");
    let inserted = repo::insert(&mut conn, &rival).await.expect("a refusal, not a failure");
    assert!(!inserted, "the unique index refuses a second running recording");
    drop(conn);
    // Any other failure is reported as one.
    break_recording_inserts(&app).await;
    let other_call = app.active_call(&c.provider, &c.patient).await;
    let fresh = repo::RecordingRow {
        id: vytalcall_domain::RecordingId::new_random(),
        call_id: other_call.parse().expect("call id"),
        ..rival
    };
    let mut conn = app.db.pool.acquire().await.expect("connection");
    assert!(repo::insert(&mut conn, &fresh).await.is_err());
    drop(conn);
    let r = app
        .post(
            &c.provider,
            &format!("/webrtc/calls/{call}/recordings/{rec}/stop"),
            json!({}),
        )
        .await;
    expect_status(r, StatusCode::OK).await;
}
