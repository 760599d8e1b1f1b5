//! The `vytalcall` binary itself: configuration errors, production refusals, `token`,
//! `migrate`, and the zero-configuration demo.

use crate::helpers::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn vytalcall(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vytalcall"));
    cmd.current_dir(dir).args(args);
    for var in [
        "PORT",
        "HOST",
        "DATABASE_URL",
        "JWT_SECRET",
        "VYTALCALL_ENV",
        "STORAGE_PROVIDER",
        "DATA_DIR",
        "RECORDING_MASTER_KEY",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run vytalcall")
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().expect("dir");
    for (var, value) in [
        ("PORT", "eighty"),
        ("STORAGE_PROVIDER", "floppy"),
        ("RECORDING_RETENTION_DAYS", "forever"),
        ("HOST", "my-laptop"),
    ] {
        let out = vytalcall(dir.path(), &[(var, value)], &[]);
        assert_eq!(out.status.code(), Some(2), "{var}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(var), "{err}");
    }
    assert!(!dir.path().join("data").exists(), "nothing created on a bad start");
}

#[test]
fn production_refuses_to_start_without_explicit_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let out = vytalcall(dir.path(), &[("VYTALCALL_ENV", "production")], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("JWT_SECRET"));
    let out = vytalcall(
        dir.path(),
        &[("VYTALCALL_ENV", "production"), ("JWT_SECRET", SECRET)],
        &[],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("RECORDING_MASTER_KEY"));
    assert!(!dir.path().join("data").exists(), "no secret generated in production");
}

#[test]
fn the_token_command_mints_a_token_the_server_accepts() {
    let dir = tempfile::tempdir().expect("dir");
    let user = uuid::Uuid::new_v4().to_string();
    let out = vytalcall(
        dir.path(),
        &[("JWT_SECRET", SECRET)],
        &[
            "token", "--user", &user, "--role", "provider", "--name", "Dr A", "--ttl", "60",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("valid HS256 token");
    assert_eq!(data.claims["sub"], user);
    assert_eq!(data.claims["role"], "provider");
    assert_eq!(data.claims["name"], "Dr A");

    let bad = vytalcall(
        dir.path(),
        &[("JWT_SECRET", SECRET)],
        &["token", "--user", "bob", "--role", "provider"],
    );
    assert!(!bad.status.success());
    let bad = vytalcall(
        dir.path(),
        &[("JWT_SECRET", SECRET)],
        &["token", "--user", &user, "--role", "nurse"],
    );
    assert!(!bad.status.success());
}

#[test]
fn help_describes_every_command() {
    let dir = tempfile::tempdir().expect("dir");
    let out = vytalcall(dir.path(), &[], &["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "migrate", "token", "audit", "--port", "--database-url"] {
        assert!(help.contains(word), "{word} in {help}");
    }
}

#[test]
fn with_no_configuration_it_runs_the_demo_and_prints_working_links() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .current_dir(dir.path())
        .args(["--port", "0"])
        .env_remove("JWT_SECRET")
        .env_remove("DATABASE_URL")
        .env_remove("DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("log file"))
        .spawn()
        .expect("start");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout).lines();
    let lines: Vec<String> = reader
        .by_ref()
        .map_while(Result::ok)
        .take_while(|l| !l.contains("Try it"))
        .collect();
    // Keep reading the rest of the banner: a closed pipe would make the server's next
    // `println!` fail and stop it.
    std::thread::spawn(move || reader.for_each(drop));
    let text = lines.join("\n");
    let base = text
        .split("vytalcall is running at ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or("")
        .trim()
        .to_string();
    let page = base.strip_prefix("http://").map(http_get_root).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(base.starts_with("http://127.0.0.1:"), "{text}");
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("/assets/app.js"),
        "the printed base {base} serves the web app: {page}\n{}",
        std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
    );
    let tokens: Vec<&str> = lines.iter().filter_map(|l| l.trim().strip_prefix("token: ")).collect();
    assert_eq!(tokens.len(), 2, "a provider and a patient token: {text}");
    // The links open the app signed in, the token in the fragment (never sent to a server);
    // the provider's link also names the demo patient.
    let links: Vec<&str> = lines.iter().filter_map(|l| l.trim().strip_prefix("open:  ")).collect();
    let users: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("data/demo-users.json")).expect("demo users"))
            .expect("json");
    let patient = users["patient"].as_str().expect("patient id");
    assert_eq!(
        links,
        vec![
            format!("{base}/#token={}&patient={patient}", tokens[0]),
            format!("{base}/#token={}", tokens[1]),
        ],
        "{text}"
    );
    let data = dir.path().join("data");
    let secret = std::fs::read_to_string(data.join("jwt-secret")).expect("generated secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("jwt-secret"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    let roles: Vec<String> = tokens
        .iter()
        .map(|t| {
            let d = jsonwebtoken::decode::<serde_json::Value>(
                t,
                &jsonwebtoken::DecodingKey::from_secret(secret.trim().as_bytes()),
                &validation,
            )
            .expect("printed tokens are signed with the generated secret");
            d.claims["role"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(roles, vec!["provider", "patient"]);
    assert!(data.join("vytalcall.db").exists());
}

/// `GET /` over a plain TCP connection (the test is synchronous); the raw response.
fn http_get_root(host_port: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = match std::net::TcpStream::connect(host_port) {
        Ok(s) => s,
        Err(e) => return format!("connect: {e}"),
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let request = format!("GET / HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = String::new();
    if let Err(e) = stream.read_to_string(&mut out) {
        out.push_str(&format!("read: {e}"));
    }
    out
}

#[test]
fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().expect("dir");
    let out = vytalcall(dir.path(), &[], &["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("data/vytalcall.db").exists());
}

#[test]
fn with_a_configured_secret_the_banner_prints_no_token_but_says_how_to_mint_one() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = "the-operators-real-secret-0123456789abcdef";
    let mut child = Command::new(env!("CARGO_BIN_EXE_vytalcall"))
        .current_dir(dir.path())
        .args(["--port", "0"])
        .env("JWT_SECRET", secret)
        .env_remove("VYTALCALL_ENV")
        .env_remove("DATABASE_URL")
        .env_remove("DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout).lines();
    let mut lines = Vec::new();
    for line in reader.by_ref().map_while(Result::ok) {
        let last = line.contains("vytalcall token");
        lines.push(line);
        if last {
            break;
        }
    }
    std::thread::spawn(move || reader.for_each(drop));
    let _ = child.kill();
    let _ = child.wait();
    let text = lines.join("\n");
    assert!(text.contains("vytalcall is running at"), "{text}");
    assert!(
        text.contains("vytalcall token --user"),
        "says how to mint a token: {text}"
    );
    assert!(
        !text.contains("token: ") && !text.contains("#token=") && !text.contains("eyJ"),
        "no token printed: {text}"
    );
    assert!(
        !dir.path().join("data/demo-users.json").exists(),
        "no demo users either"
    );
}
