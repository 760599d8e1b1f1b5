//! The zero-configuration demo: secrets generated once into the data directory (mode 0600),
//! a demo provider and a demo patient, and the links printed at start-up. Production mode
//! never comes here: there every secret must be configured.

use crate::auth::{Identity, Verifier};
use crate::config::Settings;
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use vytalcall_domain::{Role, UserId};

#[derive(Serialize, Deserialize, Clone, Copy)]
pub struct DemoUsers {
    pub provider: UserId,
    pub patient: UserId,
}

/// Creates `path` with owner-only permissions and `contents`, unless it exists.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Reads a generated secret, creating it on first use.
fn generated_secret(dir: &Path, name: &str) -> std::io::Result<String> {
    let path = dir.join(name);
    if !path.exists() {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        write_private(&path, hex::encode(bytes).as_bytes())?;
    }
    Ok(std::fs::read_to_string(&path)?.trim().to_string())
}

/// Fills in the development secrets that were not configured (the CLI does it once, before
/// running a command that needs them; tests that build the server in-process do the same).
pub fn fill_development_secrets(settings: &mut Settings) -> std::io::Result<()> {
    crate::storage::create_data_dir(&settings.data_dir)?;
    if settings.jwt.secret.is_none() && settings.jwt.public_key_pem.is_none() {
        settings.jwt.secret = Some(SecretString::from(generated_secret(&settings.data_dir, "jwt-secret")?));
        settings.jwt.generated_secret = true;
    }
    if settings.recording_master_key.is_none() {
        settings.recording_master_key = Some(SecretString::from(generated_secret(
            &settings.data_dir,
            "recording-master-key",
        )?));
    }
    if settings.audit.key.is_none() {
        settings.audit.key = Some(SecretString::from(development_audit_key(&settings.data_dir)?));
    }
    Ok(())
}

/// The development audit key (`audit-key` in the data directory), created on first use.
pub fn development_audit_key(dir: &Path) -> std::io::Result<String> {
    crate::storage::create_data_dir(dir)?;
    generated_secret(dir, "audit-key")
}

pub fn demo_users(dir: &Path) -> std::io::Result<DemoUsers> {
    crate::storage::create_data_dir(dir)?;
    let path = dir.join("demo-users.json");
    if !path.exists() {
        let users = DemoUsers {
            provider: UserId::new_random(),
            patient: UserId::new_random(),
        };
        write_private(&path, &serde_json::to_vec_pretty(&users).unwrap_or_default())?;
    }
    serde_json::from_slice(&std::fs::read(&path)?).map_err(std::io::Error::other)
}

/// A link that opens the web app signed in. The token rides in the fragment, which the
/// browser never sends to a server, so it cannot end up in access logs or a `Referer`; the
/// app moves it to `sessionStorage` and clears the address bar. A provider's link may name
/// the patient to prefill the "start a call" form.
pub fn app_link(base: &str, token: &str, patient: Option<UserId>) -> String {
    match patient {
        Some(p) => format!("{base}/#token={token}&patient={p}"),
        None => format!("{base}/#token={token}"),
    }
}

/// The start-up banner: where to go, and ready-to-use demo tokens when vytalcall generated
/// the signing secret itself. A token signed with an operator's real secret would be a
/// working credential in the console, journald and every log collector, so with a
/// configured secret or key the banner says how to mint one instead.
pub fn banner(base: &str, verifier: &Verifier, users: Option<DemoUsers>) -> String {
    let mut out = format!("\nvytalcall is running at {base}\n  Web app:     {base}/\n  API docs:    {base}/docs\n");
    let Some(users) = users else {
        out.push_str(
            "\n  Sign in with a token from your platform (the configured JWT_SECRET or JWT_PUBLIC_KEY\n  \
             verifies it). A development token for a user: vytalcall token --user <uuid> --role provider\n",
        );
        return out;
    };
    let now = crate::now_millis() / 1000;
    let people = [
        ("Demo provider", users.provider, Role::Provider, "Dr. Demo Provider"),
        ("Demo patient", users.patient, Role::Patient, "Demo Patient"),
    ];
    for (label, user, role, name) in people {
        let identity = Identity {
            user,
            role,
            name: Some(name.to_string()),
            expires_at: now + 24 * 3600,
        };
        if let Some(token) = verifier.mint(&identity, now) {
            let link = app_link(base, &token, (role == Role::Provider).then_some(users.patient));
            out.push_str(&format!(
                "\n  {label} ({user}):\n    open:  {link}\n    token: {token}\n"
            ));
        }
    }
    out.push_str(&format!(
        "\n  Try it:\n    curl -X POST {base}/webrtc/calls -H \"Authorization: Bearer $PROVIDER_TOKEN\" \\\n      -H 'Content-Type: application/json' -d '{{\"patientId\":\"{}\",\"type\":\"video\"}}'\n",
        users.patient
    ));
    out
}
