//! The rules of configuration, checked on variable maps (no process environment).

use super::*;

fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let map = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_map(&map)
}

#[test]
fn no_configuration_at_all_gives_the_embedded_demo_defaults() {
    let s = settings(&[]).expect("defaults are valid");
    assert_eq!(s.mode, Mode::Development);
    assert_eq!(s.port, 8080);
    assert_eq!(s.host.to_string(), "127.0.0.1");
    assert_eq!(s.storage.provider, StorageProvider::Local);
    assert_eq!(s.turn.stun_servers.len(), 2);
    assert_eq!(s.recording_retention_days, 365);
    assert!(s.effective_database_url().starts_with("sqlite://"));
}

#[test]
fn signaling_limits_have_defaults_that_fit_a_real_sdp_and_can_be_tuned() {
    let s = settings(&[]).expect("defaults");
    assert_eq!(s.reconnect_grace_seconds, 30);
    assert!(s.signaling.max_event_bytes >= 64 * 1024, "a 50 KB SDP fits");
    assert!(s.signaling.max_event_bytes < 1024 * 1024, "a 1 MB payload does not");
    let s = settings(&[
        ("SIGNALING_MAX_EVENT_BYTES", "65536"),
        ("SIGNALING_EVENTS_PER_SECOND", "5"),
        ("SIGNALING_EVENT_BURST", "10"),
        ("QUALITY_SAMPLE_SECONDS", "0"),
        ("QUALITY_STATS_REQUEST_SECONDS", "3"),
        ("RECONNECT_GRACE_SECONDS", "2"),
        ("SIGNALING_MAX_SOCKETS_PER_USER", "3"),
        ("SIGNALING_MAX_SOCKETS_PER_ADDRESS", "40"),
    ])
    .expect("tuned");
    assert_eq!(
        s.signaling,
        SignalingSettings {
            max_event_bytes: 65536,
            events_per_second: 5,
            event_burst: 10,
            quality_sample_seconds: 0,
            quality_stats_request_seconds: 3,
            max_sockets_per_user: 3,
            max_sockets_per_address: 40,
            max_call_participants: 4,
        }
    );
    assert_eq!(s.reconnect_grace_seconds, 2);
}

#[test]
fn a_bad_value_names_its_variable() {
    let cases = [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("HOST", "localhost:1"),
        ("STORAGE_PROVIDER", "dropbox"),
        ("RECORDING_RETENTION_DAYS", "-3"),
        ("VYTALCALL_ENV", "staging"),
        ("DATABASE_URL", "mysql://x"),
        ("LOG_FORMAT", "xml"),
        ("MAX_BODY_BYTES", "12"),
        ("RING_TIMEOUT_SECONDS", "0"),
        ("SIGNALING_MAX_EVENT_BYTES", "100"),
        ("SIGNALING_EVENTS_PER_SECOND", "0"),
        ("SIGNALING_EVENT_BURST", "many"),
        ("QUALITY_SAMPLE_SECONDS", "-1"),
        ("QUALITY_STATS_REQUEST_SECONDS", "0"),
        ("RECONNECT_GRACE_SECONDS", "soon"),
        ("SIGNALING_MAX_SOCKETS_PER_USER", "0"),
        ("SIGNALING_MAX_SOCKETS_PER_ADDRESS", "lots"),
    ];
    for (var, value) in cases {
        let err = settings(&[(var, value)]).expect_err(var);
        assert!(err.to_string().starts_with(var), "{var}: {err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
}

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
fn production_refuses_to_start_without_explicit_secrets() {
    let err = settings(&[("VYTALCALL_ENV", "production")]).expect_err("no secret");
    assert!(matches!(
        err,
        ConfigError::RequiredInProduction { var: "JWT_SECRET", .. }
    ));
    let err = settings(&[("VYTALCALL_ENV", "production"), ("JWT_SECRET", "x".repeat(40).as_str())])
        .expect_err("no master key");
    assert!(matches!(
        err,
        ConfigError::RequiredInProduction {
            var: "RECORDING_MASTER_KEY",
            ..
        }
    ));
    let err = settings(&[
        ("VYTALCALL_ENV", "production"),
        ("JWT_SECRET", "short"),
        ("RECORDING_MASTER_KEY", KEY),
    ])
    .expect_err("short secret");
    assert!(err.to_string().starts_with("JWT_SECRET"));
    assert!(!err.to_string().contains("short"), "secrets never echoed");
    let err = settings(&[
        ("VYTALCALL_ENV", "production"),
        ("JWT_SECRET", "x".repeat(40).as_str()),
        ("RECORDING_MASTER_KEY", KEY),
    ])
    .expect_err("no audit key");
    assert!(matches!(
        err,
        ConfigError::RequiredInProduction { var: "AUDIT_KEY", .. }
    ));
    settings(&[
        ("VYTALCALL_ENV", "production"),
        ("JWT_SECRET", "x".repeat(40).as_str()),
        ("RECORDING_MASTER_KEY", KEY),
        ("AUDIT_KEY", KEY),
    ])
    .expect("complete production settings");
}

#[test]
fn recording_settings_are_checked_at_start_up() {
    let err = settings(&[("RECORDING_MASTER_KEY", "too-short")]).expect_err("bad key");
    assert!(err.to_string().starts_with("RECORDING_MASTER_KEY"), "{err}");
    assert!(!err.to_string().contains("too-short"), "keys never echoed: {err}");
    settings(&[("RECORDING_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")]).expect("base64 key");
    let err = settings(&[("STORAGE_PROVIDER", "s3")]).expect_err("no bucket");
    assert!(err.to_string().starts_with("STORAGE_BUCKET"), "{err}");
    let s = settings(&[
        ("STORAGE_PROVIDER", "s3"),
        ("STORAGE_BUCKET", "recs"),
        ("STORAGE_ENDPOINT", "http://127.0.0.1:9000"),
        ("STORAGE_ACCESS_KEY_ID", "id"),
        ("STORAGE_SECRET_ACCESS_KEY", "secret"),
    ])
    .expect("s3 settings");
    assert_eq!(s.storage.access_key_id.as_deref(), Some("id"));
    assert_eq!(s.recording_rtc.bind.to_string(), "127.0.0.1");
    assert_eq!(s.recording_rtc.public_ip, None);
    let err = settings(&[("RECORDING_RTC_PUBLIC_IP", "somewhere")]).expect_err("bad ip");
    assert!(err.to_string().starts_with("RECORDING_RTC_PUBLIC_IP"), "{err}");
    let s = settings(&[("HOST", "0.0.0.0"), ("RECORDING_RTC_PUBLIC_IP", "203.0.113.7")]).expect("public ip");
    assert_eq!(s.recording_rtc.bind.to_string(), "0.0.0.0");
    assert_eq!(
        s.recording_rtc.public_ip.map(|ip| ip.to_string()).as_deref(),
        Some("203.0.113.7")
    );
}

#[test]
fn seed_variable_names_are_honoured() {
    let s = settings(&[
        ("WEBRTC_STUN_SERVERS", "stun:a:1, stun:b:2"),
        ("WEBRTC_TURN_SERVERS", "turn:t:3478"),
        ("WEBRTC_TURN_USERNAME", "u"),
        ("STORAGE_PROVIDER", "aws-s3"),
        ("STORAGE_BUCKET", "b"),
        ("FRONTEND_URL", "https://app.example"),
    ])
    .expect("valid");
    assert_eq!(s.turn.stun_servers, vec!["stun:a:1", "stun:b:2"]);
    assert_eq!(s.turn.turn_servers, vec!["turn:t:3478"]);
    assert_eq!(s.storage.provider, StorageProvider::S3);
    assert_eq!(s.frontend_urls, vec!["https://app.example"]);
}

#[test]
fn error_messages_name_the_variable_the_value_and_what_was_expected() {
    let cases = [
        (
            ("MAX_BODY_BYTES", "12"),
            r#"MAX_BODY_BYTES="12" is invalid: must be at least 1024"#,
        ),
        (
            ("RING_TIMEOUT_SECONDS", "0"),
            r#"RING_TIMEOUT_SECONDS="0" is invalid: must be at least 1"#,
        ),
        (
            ("PORT", "eighty"),
            r#"PORT="eighty" is invalid: expected a port number 0-65535"#,
        ),
        (
            ("DATABASE_URL", "mysql://root:pw@x"),
            r#"DATABASE_URL="(hidden)" is invalid: expected sqlite:… or postgres://…"#,
        ),
        (
            ("TLS_CERT_FILE", "/c.pem"),
            r#"TLS_KEY_FILE="" is invalid: must be set together with TLS_CERT_FILE"#,
        ),
    ];
    for ((var, value), message) in cases {
        assert_eq!(settings(&[(var, value)]).expect_err(var).to_string(), message);
    }
}

#[test]
fn a_public_key_file_is_read_before_parsing_which_itself_does_no_io() {
    let vars: HashMap<String, String> = [("JWT_PUBLIC_KEY_FILE".to_string(), "/keys/jwt.pem".to_string())].into();
    let lookup = |k: &str| vars.get(k).cloned();
    let files = Files::from_contents([("/keys/jwt.pem".to_string(), "PEM TEXT".to_string())]);
    let s = Settings::from_vars(&lookup, &files).expect("the key given as read");
    assert_eq!(s.jwt.public_key_pem.as_deref(), Some("PEM TEXT"));
    let err = Settings::from_vars(&lookup, &Files::default()).expect_err("a file nobody read");
    assert!(err.to_string().starts_with("JWT_PUBLIC_KEY_FILE"), "{err}");

    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("missing.pem").display().to_string();
    let err = settings(&[("JWT_PUBLIC_KEY_FILE", &missing)]).expect_err("unreadable");
    assert!(
        err.to_string().starts_with("JWT_PUBLIC_KEY_FILE") && err.to_string().contains("cannot read it"),
        "{err}"
    );
    let present = dir.path().join("jwt.pem");
    std::fs::write(&present, "FROM DISK").expect("write");
    let s = settings(&[("JWT_PUBLIC_KEY_FILE", &present.display().to_string())]).expect("read at the edge");
    assert_eq!(s.jwt.public_key_pem.as_deref(), Some("FROM DISK"));
    let s = settings(&[("JWT_PUBLIC_KEY", "INLINE\\nPEM"), ("JWT_PUBLIC_KEY_FILE", &missing)]).expect("inline wins");
    assert_eq!(s.jwt.public_key_pem.as_deref(), Some("INLINE\nPEM"));
}

#[test]
fn the_clinic_is_named_by_clinic_name_and_its_logo_must_be_an_image() {
    let s = settings(&[]).expect("defaults are valid");
    assert_eq!(
        s.clinic,
        ClinicSettings {
            name: "vytalcall".into(),
            logo_file: None
        }
    );
    let s = settings(&[
        ("CLINIC_NAME", " Riverside Clinic "),
        ("CLINIC_LOGO_FILE", "/etc/logo.svg"),
    ])
    .expect("valid");
    assert_eq!(s.clinic.name, "Riverside Clinic");
    assert_eq!(s.clinic.logo_file, Some(PathBuf::from("/etc/logo.svg")));
    assert!(matches!(
        settings(&[("CLINIC_LOGO_FILE", "/etc/logo.exe")]),
        Err(ConfigError::Invalid {
            var: "CLINIC_LOGO_FILE",
            ..
        })
    ));
    assert!(matches!(
        settings(&[("CLINIC_NAME", &"x".repeat(81))]),
        Err(ConfigError::Invalid { var: "CLINIC_NAME", .. })
    ));
}

#[test]
fn retired_recording_master_keys_are_read_as_a_comma_separated_list_and_bad_ones_are_refused_unechoed() {
    let base64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    assert!(settings(&[]).expect("none").recording_master_keys_old.is_empty());
    let s = settings(&[("RECORDING_MASTER_KEYS_OLD", &format!("{KEY}, {base64}"))]).expect("two keys");
    assert_eq!(s.recording_master_keys_old.len(), 2);
    let secret = "ff".repeat(31);
    for (value, entry) in [
        (format!("{KEY},{secret}"), "entry 2 is not 32 bytes"),
        (format!("{KEY},,{base64}"), "entry 2 is empty"),
        ("not-a-key".to_string(), "entry 1 is not 32 bytes"),
        (format!("{KEY},"), "entry 2 is empty"),
    ] {
        let err = settings(&[("RECORDING_MASTER_KEYS_OLD", &value)]).expect_err("refused");
        let text = err.to_string();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    var: "RECORDING_MASTER_KEYS_OLD",
                    ..
                }
            ),
            "{text}"
        );
        assert!(text.contains(entry), "{text}");
        assert!(!text.contains(&secret) && !text.contains(KEY), "never echoed: {text}");
    }
}

#[test]
fn webhook_settings_need_url_and_secret_together_and_name_a_bad_value() {
    let s = settings(&[]).expect("defaults");
    assert!(s.webhooks.endpoint.is_none());
    assert!(!s.webhooks.allow_private);
    assert_eq!(s.webhooks.retry.window_ms, 86_400_000);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let s = settings(&[
        ("WEBHOOK_URL", "https://hooks.example.com/in"),
        ("WEBHOOK_SECRET", secret),
    ])
    .expect("valid");
    assert_eq!(
        s.webhooks.endpoint.as_ref().map(|(u, _)| u.as_str()),
        Some("https://hooks.example.com/in")
    );
    let line = |pairs: &[(&str, &str)]| settings(pairs).expect_err("refused").to_string();
    assert!(line(&[("WEBHOOK_URL", "https://x.example/")]).starts_with("WEBHOOK_URL="));
    assert!(line(&[("WEBHOOK_URL", "ftp://x.example/"), ("WEBHOOK_SECRET", secret)]).starts_with("WEBHOOK_URL="));
    let bad_secret = line(&[("WEBHOOK_URL", "https://x.example/"), ("WEBHOOK_SECRET", "hunter2")]);
    assert!(
        bad_secret.starts_with("WEBHOOK_SECRET=") && !bad_secret.contains("hunter2"),
        "{bad_secret}"
    );
    assert!(line(&[("WEBHOOK_ALLOW_PRIVATE", "yes")]).starts_with("WEBHOOK_ALLOW_PRIVATE="));
    let local = [
        ("WEBHOOK_URL", "http://127.0.0.1:9000/hook"),
        ("WEBHOOK_SECRET", secret),
    ];
    assert!(line(&local).contains("loopback"), "{}", line(&local));
    assert!(settings(&[local[0], local[1], ("WEBHOOK_ALLOW_PRIVATE", "true")]).is_ok());
    assert!(line(&[("WEBHOOK_RETRY_MAX_SECONDS", "0")]).starts_with("WEBHOOK_RETRY_MAX_SECONDS="));
    assert!(line(&[("WEBHOOK_TIMEOUT_SECONDS", "61")]).starts_with("WEBHOOK_TIMEOUT_SECONDS="));
}
