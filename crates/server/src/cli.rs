//! The `vytalcall` command line. Settings come from the environment (and `.env`); the
//! flags here override them.

use crate::auth::{Identity, Verifier};
use crate::config::{Mode, Settings};
use crate::startup::{self, Application};
use crate::{audit, demo, telemetry};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use vytalcall_domain::{Role, UserId};

#[derive(Parser)]
#[command(
    name = "vytalcall",
    version,
    about = "Telehealth call server: calls over REST, WebRTC signaling, STUN/TURN settings, audit trail.",
    long_about = "Telehealth call server: calls over REST, WebRTC signaling, STUN/TURN settings, audit trail.\n\n\
        With no configuration it runs a complete demo: SQLite and generated secrets under ./data, and\n\
        ready-to-use links for a demo provider and a demo patient. Configure it with environment\n\
        variables or a .env file (PORT, DATABASE_URL, JWT_SECRET, ...; see the README)."
)]
pub struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct Overrides {
    /// Address to listen on [env: HOST, default 127.0.0.1]
    #[arg(long, global = true)]
    host: Option<IpAddr>,
    /// Port to listen on, 0 for any free port [env: PORT, default 8080]
    #[arg(long, global = true)]
    port: Option<u16>,
    /// Directory for the SQLite database and generated secrets [env: DATA_DIR, default ./data]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// sqlite:… or postgres://… [env: DATABASE_URL, default SQLite under the data dir]
    #[arg(long, global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, signaling and web app (the default).
    Serve,
    /// Create or update the database schema, then exit.
    Migrate,
    /// Print a signed development token (HS256 with JWT_SECRET or the generated demo secret).
    Token {
        /// The user's id (a UUID).
        #[arg(long)]
        user: UserId,
        /// patient, provider or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Display name carried in the token.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Print the OpenAPI document of the REST API (the same one served at /openapi.json).
    Openapi,
    /// Recording commands.
    Recording {
        #[command(subcommand)]
        command: RecordingCommand,
    },
    /// Retention commands.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Audit trail commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum RecordingCommand {
    /// Decrypt a recording to a WebM file (refused if the stored file was altered; audited).
    Export {
        /// The recording's id.
        id: vytalcall_domain::RecordingId,
        /// Where to write the WebM file (created with mode 0600; never overwritten).
        file: PathBuf,
        /// Who is exporting, for the audit trail [default: the OS user].
        #[arg(long)]
        operator: Option<String>,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Delete recordings older than RECORDING_RETENTION_DAYS (not on legal hold) now.
    Run,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the chain, every entry's code (AUDIT_KEY) and the newest checkpoints; prints OK or what was found and exits non-zero.
    Verify {
        /// Also check against this checkpoint (a line printed by `audit checkpoint`).
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// Sign the current head, store it as a checkpoint and print it.
    Checkpoint,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|e: vytalcall_domain::role::UnknownRole| e.to_string())
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = dotenvy::dotenv();
    let mut settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vytalcall: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let o = cli.overrides;
    settings.host = o.host.unwrap_or(settings.host);
    settings.port = o.port.unwrap_or(settings.port);
    settings.data_dir = o.data_dir.unwrap_or(settings.data_dir);
    settings.database_url = o.database_url.or(settings.database_url);
    telemetry::init_logging(settings.log_format);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vytalcall: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vytalcall: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            // A server must outlive whoever read its banner: a closed stdout is not an error.
            let _ = writeln!(std::io::stdout(), "{}", app.banner());
            app.run(startup::shutdown_signal()).await?;
        }
        Command::Migrate => {
            startup::open_database(&settings).await?;
            println!("database is up to date");
        }
        Command::Token { user, role, name, ttl } => {
            if settings.mode == Mode::Development {
                demo::fill_development_secrets(&mut settings)?;
            }
            let verifier = Verifier::new(&settings.jwt)?;
            let now = crate::now_millis() / 1000;
            let identity = Identity {
                user,
                role,
                name,
                expires_at: now + ttl,
            };
            match verifier.mint(&identity, now) {
                Some(token) => println!("{token}"),
                None => {
                    anyhow::bail!("minting tokens needs JWT_SECRET (a public key can only verify)")
                }
            }
        }
        Command::Openapi => {
            println!("{}", crate::http::api().1.to_pretty_json()?);
        }
        Command::Recording {
            command: RecordingCommand::Export { id, file, operator },
        } => {
            crate::recording::upkeep::cli_export(settings, id, &file, operator).await?;
        }
        Command::Retention {
            command: RetentionCommand::Run,
        } => {
            crate::recording::upkeep::cli_retention(settings).await?;
        }
        Command::Audit {
            command: AuditCommand::Verify { expect_head },
        } => return audit::command::run_verify(&settings, expect_head.as_deref()).await,
        Command::Audit {
            command: AuditCommand::Checkpoint,
        } => return audit::command::run_checkpoint(&settings).await,
    }
    Ok(ExitCode::SUCCESS)
}
