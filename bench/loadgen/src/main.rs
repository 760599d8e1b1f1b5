//! Load generator for vytalcall's signaling and the Node reference server (`bench/run`).
//!
//! It speaks Engine.IO v4 / Socket.IO v4 over WebSocket itself: `GET
//! /socket.io/?EIO=4&transport=websocket`, the namespace connect `40/webrtc,{"token":…}`,
//! events `42/webrtc,[…]`, acknowledgements `43/webrtc,<id>[…]`, and pongs to the server's
//! pings. Every socket authenticates through the real handshake with its own HS256 token.
//!
//! Three runs, each printing one JSON line on stdout (progress goes to stderr):
//! - `idle`: N authenticated sockets held open; server RSS before and after, set-up rate.
//! - `calls`: N/2 call pairs do a real call's signaling (join, offer/answer with ~5 KB SDP,
//!   a burst of ICE candidates, media update, quality report), then relay ICE candidates to
//!   each other for a fixed time, either saturating (a bounded window of relays in flight per
//!   socket: peak throughput) or open-loop at a fixed total rate (latency is measured from
//!   the *scheduled* send time, so queueing in the generator or the server is not hidden),
//!   then leave.
//! - `surge`: N call pairs arrive at once (create, connect, join, offer/answer); joins per
//!   second, join acknowledgement times, time until every pair has negotiated.

use clap::{Parser, Subcommand, ValueEnum};

mod measure;
mod scenarios;
mod socketio;
mod surge;

use scenarios::{run_calls, run_idle};
use socketio::now_ns;
use surge::run_surge;

#[derive(Parser)]
#[command(about = "Socket.IO v4 signaling load generator")]
pub(crate) struct Cli {
    /// host:port of the server under test (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) addr: String,
    /// HS256 secret the server verifies tokens with.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub(crate) secret: String,
    #[arg(long, value_enum)]
    pub(crate) server: Kind,
    /// The server's process id, for RSS and CPU from /proc.
    #[arg(long)]
    pub(crate) server_pid: u32,
    /// Connection handshakes (and REST calls) in flight at once.
    #[arg(long, default_value_t = 200)]
    pub(crate) concurrency: usize,
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// vytalcall: calls are created over REST first.
    Vytalcall,
    /// The Node reference server: any call id may be joined.
    Node,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Hold N idle authenticated sockets; report memory per socket and set-up rate.
    Idle {
        #[arg(long)]
        conns: usize,
        #[arg(long, default_value_t = 30)]
        hold_secs: u64,
    },
    /// Drive N/2 call pairs through a call and a relay phase.
    Calls {
        #[arg(long)]
        pairs: usize,
        /// Length of the measured relay window.
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Relay before the window opens (not measured).
        #[arg(long, default_value_t = 2)]
        warmup_secs: u64,
        /// Total offered relays per second (open-loop); 0 saturates instead.
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Relays in flight per socket when saturating.
        #[arg(long, default_value_t = 8)]
        window: usize,
        /// ICE candidates each side sends in the call's initial burst.
        #[arg(long, default_value_t = 10)]
        ice_burst: usize,
    },
    /// N call pairs arrive at once: create, connect, join, offer and answer.
    Surge {
        #[arg(long)]
        pairs: usize,
    },
}

impl Cli {
    /// The connection settings alone, for tasks that outlive the borrow of the parsed line.
    pub(crate) fn clone_for_tasks(&self) -> Cli {
        Cli {
            addr: self.addr.clone(),
            secret: self.secret.clone(),
            server: self.server,
            server_pid: self.server_pid,
            concurrency: self.concurrency,
            cmd: Cmd::Idle { conns: 0, hold_secs: 0 },
        }
    }
}

#[tokio::main]
pub(crate) async fn main() {
    let _ = now_ns();
    let cli = Cli::parse();
    let out = match &cli.cmd {
        Cmd::Idle { conns, hold_secs } => run_idle(&cli, *conns, *hold_secs).await,
        Cmd::Calls {
            pairs,
            secs,
            warmup_secs,
            rate,
            window,
            ice_burst,
        } => run_calls(&cli, *pairs, *secs, *warmup_secs, *rate, *window, *ice_burst).await,
        Cmd::Surge { pairs } => run_surge(&cli, *pairs).await,
    };
    println!("{out}");
}
