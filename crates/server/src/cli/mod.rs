//! The `vytalcall` command line. Settings come from the environment (and `.env`); the
//! flags here override them. This file declares the commands and dispatches them; the
//! commands that do more than a call or two have a file each ([`token`], [`recording`]).
//!
//! In development the generated secrets are filled in once, before dispatch, for the
//! commands that need them ([`Command::needs_secrets`]); the others (`migrate`, `openapi`,
//! `audit`) never create them.

mod recording;
mod token;

use crate::config::{Mode, Settings};
use crate::startup::{self, Application};
use crate::storage::Db;
use crate::{audit, demo, telemetry};
use anyhow::Context;
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
    /// Re-wrap every recording key not under RECORDING_MASTER_KEY (and move version-1 header
    /// keys into the database), one audited recording at a time; safe to interrupt and rerun.
    Rewrap {
        /// Stop after this many recordings (run again to continue).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max: Option<u64>,
        /// Who is rewrapping, for the audit trail [default: the OS user].
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

impl Command {
    /// Whether the command signs tokens or reads recordings, so needs the JWT secret and the
    /// recording master key (generated into the data directory in development).
    fn needs_secrets(&self) -> bool {
        match self {
            Command::Serve | Command::Token { .. } | Command::Recording { .. } | Command::Retention { .. } => true,
            Command::Migrate | Command::Openapi | Command::Audit { .. } => false,
        }
    }
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
    if settings.mode == Mode::Development && command.needs_secrets() {
        demo::fill_development_secrets(&mut settings).context("cannot prepare the data directory")?;
    }
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            // A server must outlive whoever read its banner: a closed stdout is not an error.
            let _ = writeln!(std::io::stdout(), "{}", app.banner());
            app.run(startup::shutdown_signal()).await?;
        }
        Command::Migrate => {
            Db::open(&settings).await?;
            println!("database is up to date");
        }
        Command::Token { user, role, name, ttl } => token::print(&settings, user, role, name, ttl)?,
        Command::Openapi => {
            println!("{}", crate::http::api().1.to_pretty_json()?);
        }
        Command::Recording {
            command: RecordingCommand::Export { id, file, operator },
        } => recording::export(&settings, id, &file, operator).await?,
        Command::Recording {
            command: RecordingCommand::Rewrap { max, operator },
        } => recording::rewrap(&settings, max, operator).await?,
        Command::Retention {
            command: RetentionCommand::Run,
        } => recording::retention(&settings).await?,
        Command::Audit {
            command: AuditCommand::Verify { expect_head },
        } => return audit::command::run_verify(&settings, expect_head.as_deref()).await,
        Command::Audit {
            command: AuditCommand::Checkpoint,
        } => return audit::command::run_checkpoint(&settings).await,
    }
    Ok(ExitCode::SUCCESS)
}
