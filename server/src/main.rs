//! `doorstep`: the server binary. Runs the server; sets up areas, accounts and devices for
//! operators with access to the database; and is a terminal client for staff. It parses the
//! command line and hands each command to `doorstep_server::cli` (or `serve`).

use clap::{Parser, Subcommand};
use doorstep_server::access::sessions::{self, SessionPolicy};
use doorstep_server::cli::{self, admin, areas, device, report, review, roster, settings, staff};
use doorstep_server::clock::Clock;
use doorstep_server::http::hardening::RateLimits;
use doorstep_server::storage::{ledger::Ledger, register};
use doorstep_server::{config, http};
use schema::Message;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "doorstep",
    version,
    about = "Doorstep sync server and central register"
)]
struct Cli {
    /// Directory for the embedded SQLite database.
    #[arg(long, global = true, default_value = config::DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// PostgreSQL URL (postgres://…); SQLite under --data when absent.
    #[arg(long, global = true, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The data key file: one key a line as `id:hex`, the current key first, older keys
    /// after it. Without it (and without DOORSTEP_DATA_KEY), a key is made under --data.
    #[arg(long, global = true, env = "DOORSTEP_DATA_KEY_FILE")]
    data_key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// How long a staff session lasts from login, in seconds.
        #[arg(long, default_value_t = 12 * 3600)]
        session_lifetime_secs: u64,
        /// How long a staff session lasts without a request, in seconds; at least 60, since a
        /// session's last request is written down once a minute.
        #[arg(long, default_value_t = 2 * 3600, value_parser = session_idle_secs)]
        session_idle_secs: u64,
        /// Requests a second from one client address, in bursts of ten seconds' worth; 0
        /// turns the limit off (behind a reverse proxy, which every client shares).
        #[arg(long, default_value_t = RateLimits::default().per_client_per_second)]
        rate_per_client: u32,
        /// Requests a second with one device token or staff session, in bursts of ten
        /// seconds' worth; 0 turns the limit off.
        #[arg(long, default_value_t = RateLimits::default().per_credential_per_second)]
        rate_per_credential: u32,
        /// Logins and enrollment-code redemptions a minute from one client address; 0 turns
        /// the limit off.
        #[arg(long, default_value_t = RateLimits::default().login_attempts_per_minute)]
        login_attempts_per_minute: u32,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key), for offices without
        /// a reverse proxy.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Mark the console's session cookie Secure though this server speaks plain HTTP:
        /// behind a reverse proxy that terminates HTTPS. With --tls-cert it always is.
        #[arg(long)]
        secure_cookies: bool,
    },
    /// First-time setup: create the first county admin.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Create staff accounts from the command line (admins can also use the API).
    Staff {
        #[command(subcommand)]
        command: staff::StaffCommand,
    },
    /// Load administrative areas (province to village codes).
    Areas {
        #[command(subcommand)]
        command: areas::AreasCommand,
    },
    /// The yearly subsidy parameters (policy §五): show or set them, audited.
    Settings {
        #[command(subcommand)]
        command: settings::SettingsCommand,
    },
    /// Log in to a running server and print the session token, for `doorstep review`.
    Login {
        #[arg(long, env = "DOORSTEP_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long)]
        username: String,
        /// The 6-digit code of an admin's authenticator app.
        #[arg(long)]
        totp: Option<String>,
    },
    /// Manage devices.
    Device {
        #[command(subcommand)]
        command: device::DeviceCommand,
    },
    /// The policy's reports from the database: `report indicators|roster|subsidies --area CODE`.
    Report {
        #[command(subcommand)]
        command: report::ReportCommand,
    },
    /// Other offices' rosters imported for comparison, and their mismatches with the ledger.
    Roster {
        #[command(subcommand)]
        command: roster::RosterCommand,
    },
    /// Work through the review queue of a running server.
    Review {
        /// The server's address.
        #[arg(long, env = "DOORSTEP_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Your session token (`doorstep login`).
        #[arg(long, env = "DOORSTEP_TOKEN", hide_env_values = true)]
        token: String,
        #[command(subcommand)]
        command: review::ReviewCommand,
    },
}

/// `--session-idle-secs`: refused below [`sessions::MIN_SESSION_IDLE_SECS`], which would end
/// sessions that are in use.
fn session_idle_secs(text: &str) -> Result<u64, String> {
    let secs: u64 = text.trim().parse().map_err(|err| format!("{err}"))?;
    let min = sessions::MIN_SESSION_IDLE_SECS;
    if secs < min {
        return Err(format!(
            "会话空闲时限至少 {min} 秒：会话每分钟才记录一次活动，更短会使正在使用的会话过期 / \
             the idle limit must be at least {min} seconds: a session's activity is recorded once \
             a minute, so a shorter limit would end sessions in use"
        ));
    }
    Ok(secs)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(&Message::new(
                format!("无法启动运行时：{err}"),
                format!("cannot start the runtime: {err}"),
            ));
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

/// Prints why the command failed; `message` is in both languages already (`Message`'s
/// "中文 / English" form), so the label is too.
fn fail(message: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("错误 error: {message}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<(), String> {
    // The terminal client's commands talk to a running server: they open no database.
    let command = match cli.command {
        Command::Login {
            server,
            username,
            totp,
        } => return review::log_in(server, username, totp).await,
        Command::Review {
            server,
            token,
            command,
        } => return review::review(review::Connection { server, token }, command).await,
        command => command,
    };
    // The one place the server's time is chosen: the system's.
    let clock = Clock::system();
    let (db, vault) = cli::open(
        &cli::DataOptions {
            data: cli.data,
            database_url: cli.database_url,
            data_key_file: cli.data_key_file,
        },
        &clock,
    )
    .await?;
    match command {
        Command::Serve {
            listen,
            session_lifetime_secs,
            session_idle_secs,
            rate_per_client,
            rate_per_credential,
            login_attempts_per_minute,
            tls_cert,
            tls_key,
            secure_cookies,
        } => {
            let tls = match (tls_cert, tls_key) {
                (Some(certificate), Some(key)) => Some(
                    http::tls::load(&certificate, &key).map_err(|err| err.message().to_string())?,
                ),
                _ => None,
            };
            let options = doorstep_server::ServeOptions {
                listen,
                vault,
                clock,
                sessions: SessionPolicy {
                    lifetime: Duration::from_secs(session_lifetime_secs),
                    idle: Duration::from_secs(session_idle_secs),
                },
                rate_limits: RateLimits {
                    per_client_per_second: rate_per_client,
                    per_credential_per_second: rate_per_credential,
                    login_attempts_per_minute,
                },
                secure_cookies: secure_cookies || tls.is_some(),
                tls,
            };
            // Rows migration 0007 could not seal are projected again first.
            let ledger = Ledger::new(db.clone(), options.vault.clone(), options.clock.clone());
            register::refill_pending(&ledger).await.map_err(|err| {
                Message::new(
                    format!("无法重新填写登记表：{err}"),
                    format!("cannot refill the register: {err}"),
                )
                .to_string()
            })?;
            doorstep_server::serve(db, options).await.map_err(|err| {
                Message::new(
                    format!("服务器运行失败：{err}"),
                    format!("server failed: {err}"),
                )
                .to_string()
            })
        }
        Command::Admin { command } => admin::run(&db, &vault, &clock, command).await,
        Command::Staff { command } => staff::run(&db, &vault, &clock, command).await,
        Command::Areas { command } => areas::run(&db, &clock, command).await,
        Command::Device { command } => device::run(&db, &clock, command).await,
        Command::Settings { command } => settings::run(&db, &vault, &clock, command).await,
        Command::Report { command } => report::run(&db, &vault, &clock, command).await,
        Command::Roster { command } => roster::run(&db, &vault, &clock, command).await,
        // Answered above, before any database is opened.
        Command::Review { .. } | Command::Login { .. } => Ok(()),
    }
}
