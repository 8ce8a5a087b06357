//! `doorstep`: the server binary. Runs the server; sets up areas, accounts and devices for
//! operators with access to the database; and is a terminal client for staff.

mod device_cli;
mod review_cli;

use clap::{Parser, Subcommand};
use doorstep_server::accounts::{self, NewStaff, Role, SessionPolicy};
use doorstep_server::clock::Clock;
use doorstep_server::config;
use doorstep_server::http::hardening::RateLimits;
use doorstep_server::storage::{areas, db::Db};
use schema::Message;
use schema::ids::AreaCode;
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
    },
    /// First-time setup: create the first county admin.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Create staff accounts from the command line (admins can also use the API).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Load administrative areas (province to village codes).
    Areas {
        #[command(subcommand)]
        command: AreasCommand,
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
        command: device_cli::DeviceCommand,
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
        command: review_cli::ReviewCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create the first county admin (refused once one exists). Reads the password from
    /// standard input and prints the TOTP secret for their authenticator app.
    Init {
        #[arg(long, default_value = "admin")]
        username: String,
        #[arg(long)]
        name: String,
        /// The county (or wider area) the admin manages.
        #[arg(long)]
        scope: String,
    },
    /// Give an admin who lost their authenticator a new TOTP secret (printed once); the old
    /// one and the account's sessions stop working. Audited as done by the operator.
    ResetTotp {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Create an account. Reads the password from standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// county_admin, county_staff, township_staff or auditor.
        #[arg(long)]
        role: String,
        /// The account's area: a county for county roles, a township for township staff.
        #[arg(long)]
        scope: String,
    },
}

#[derive(Debug, Subcommand)]
enum AreasCommand {
    /// Add or rename areas from a CSV file of `code,name` lines.
    Import { file: PathBuf },
}

/// Records an act done at the server's command line, by someone with the database.
async fn audit_cli(
    db: &Db,
    action: &'static str,
    target: &str,
    detail: &str,
) -> Result<(), String> {
    let entry = doorstep_server::audit::Entry::new(action, doorstep_server::audit::Outcome::Ok)
        .by("operator", "operator")
        .on(target)
        .from("cli")
        .saying(detail);
    doorstep_server::audit::record(db, entry)
        .await
        .map_err(|err| {
            Message::new(
                format!("无法写入审计日志：{err}"),
                format!("cannot write the audit log: {err}"),
            )
            .to_string()
        })
}

/// The first line of standard input: a password, typed or piped, never an argument that
/// would show in the process list and the shell's history.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|err| {
        Message::new(
            format!("无法从标准输入读取密码：{err}"),
            format!("cannot read the password from standard input: {err}"),
        )
        .to_string()
    })?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn new_staff(username: String, name: String, role: Role, scope: &str) -> Result<NewStaff, String> {
    Ok(NewStaff {
        username,
        name,
        role,
        scope: AreaCode::parse(scope).map_err(|err| err.message.to_string())?,
        password: read_password()?,
    })
}

/// `--session-idle-secs`: refused below [`accounts::MIN_SESSION_IDLE_SECS`], which would end
/// sessions that are in use.
fn session_idle_secs(text: &str) -> Result<u64, String> {
    let secs: u64 = text.trim().parse().map_err(|err| format!("{err}"))?;
    let min = accounts::MIN_SESSION_IDLE_SECS;
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

/// A worker thread of the command that panicked or was cancelled.
fn thread_failed(err: tokio::task::JoinError) -> String {
    Message::new(
        format!("命令的工作线程失败：{err}"),
        format!("the command's worker thread failed: {err}"),
    )
    .to_string()
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Command::Login {
        server,
        username,
        totp,
    } = cli.command
    {
        let password = read_password()?;
        let token = tokio::task::spawn_blocking(move || {
            review_cli::login(server, &username, &password, totp.as_deref())
        })
        .await
        .map_err(thread_failed)??;
        println!("{token}");
        return Ok(());
    }
    if let Command::Review {
        server,
        token,
        command,
    } = cli.command
    {
        // An HTTP client of the server: it needs no database of its own.
        let connection = review_cli::Connection { server, token };
        return tokio::task::spawn_blocking(move || review_cli::run(connection, command))
            .await
            .map_err(thread_failed)?;
    }
    let url = config::database_url(&cli.data, cli.database_url.as_deref()).map_err(|err| {
        Message::new(
            format!("无法创建数据目录 {}：{err}", cli.data.display()),
            format!("cannot create {}: {err}", cli.data.display()),
        )
        .to_string()
    })?;
    let db = Db::connect(&url).await.map_err(|err| {
        Message::new(
            format!("无法打开数据库：{err}"),
            format!("cannot open the database: {err}"),
        )
        .to_string()
    })?;
    db.migrate().await.map_err(|err| {
        Message::new(
            format!("无法升级数据库结构：{err}"),
            format!("cannot migrate the database: {err}"),
        )
        .to_string()
    })?;
    // The key itself is read from the environment only: an argument would show in the
    // process list. The ring must be the database's (data_key.rs) before anything is sealed.
    let keys = doorstep_server::storage::data_key::KeyConfig {
        data_dir: cli.data.clone(),
        key: std::env::var("DOORSTEP_DATA_KEY").ok(),
        key_file: cli.data_key_file.clone(),
    };
    let vault = doorstep_server::storage::data_key::open(&db, &keys, &Clock::system())
        .await
        .map_err(|err| match err {
            doorstep_server::storage::data_key::KeyError::Refused(message) => message.to_string(),
            doorstep_server::storage::data_key::KeyError::Database(err) => database_failed(err),
        })?;
    areas::ensure_default(&db).await.map_err(|err| {
        Message::new(
            format!("无法载入默认行政区划：{err}"),
            format!("cannot load the default areas: {err}"),
        )
        .to_string()
    })?;
    match cli.command {
        Command::Serve {
            listen,
            session_lifetime_secs,
            session_idle_secs,
            rate_per_client,
            rate_per_credential,
            login_attempts_per_minute,
            tls_cert,
            tls_key,
        } => {
            let tls = match (tls_cert, tls_key) {
                (Some(certificate), Some(key)) => Some(
                    doorstep_server::tls::load(&certificate, &key)
                        .map_err(|err| err.message().to_string())?,
                ),
                _ => None,
            };
            let options = doorstep_server::ServeOptions {
                listen,
                vault,
                sessions: SessionPolicy {
                    lifetime: Duration::from_secs(session_lifetime_secs),
                    idle: Duration::from_secs(session_idle_secs),
                },
                rate_limits: RateLimits {
                    per_client_per_second: rate_per_client,
                    per_credential_per_second: rate_per_credential,
                    login_attempts_per_minute,
                },
                tls,
            };
            // Rows migration 0007 could not seal are projected again first.
            let ledger = doorstep_server::storage::ledger::Ledger::new(
                db.clone(),
                options.vault.clone(),
                Clock::system(),
            );
            doorstep_server::storage::register::refill_pending(&ledger)
                .await
                .map_err(|err| {
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
        Command::Admin {
            command:
                AdminCommand::Init {
                    username,
                    name,
                    scope,
                },
        } => {
            if accounts::has_admin(&db)
                .await
                .map_err(|err| err.to_string())?
            {
                return Err(Message::new(
                    "已有管理员；请由管理员创建其他账号",
                    "an admin exists already; let them create other accounts",
                )
                .to_string());
            }
            let new = new_staff(username, name, Role::CountyAdmin, &scope)?;
            let created = accounts::create(&db, &vault, new)
                .await
                .map_err(|err| err.to_string())?;
            audit_cli(
                &db,
                "staff.create",
                &created.staff.username,
                "first county admin",
            )
            .await?;
            println!("created county admin {}", created.staff.username);
            if let Some(uri) = created.totp_uri() {
                println!("add this to the admin's authenticator app (shown once):");
                println!("{uri}");
            }
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::ResetTotp { username },
        } => {
            let entry = doorstep_server::audit::Entry::new(
                "staff.reset_totp",
                doorstep_server::audit::Outcome::Ok,
            )
            .by("operator", "operator")
            .from("cli")
            .saying("new TOTP secret, sessions ended");
            let reset = accounts::reset_totp(&db, &vault, &username, entry)
                .await
                .map_err(|err| err.to_string())?;
            println!("new TOTP secret for {}", reset.staff.username);
            if let Some(uri) = reset.totp_uri() {
                println!("add this to the admin's authenticator app (shown once):");
                println!("{uri}");
            }
            Ok(())
        }
        Command::Staff {
            command:
                StaffCommand::Add {
                    username,
                    name,
                    role,
                    scope,
                },
        } => {
            let role = Role::parse(&role).map_err(|message| message.to_string())?;
            let new = new_staff(username, name, role, &scope)?;
            let created = accounts::create(&db, &vault, new)
                .await
                .map_err(|err| err.to_string())?;
            let detail = format!("role {} scope {}", role.as_str(), created.staff.scope);
            audit_cli(&db, "staff.create", &created.staff.username, &detail).await?;
            println!("created {} {}", role.as_str(), created.staff.username);
            if let Some(uri) = created.totp_uri() {
                println!("{uri}");
            }
            Ok(())
        }
        Command::Areas {
            command: AreasCommand::Import { file },
        } => {
            let text = std::fs::read_to_string(&file).map_err(|err| {
                Message::new(
                    format!("无法读取文件 {}：{err}", file.display()),
                    format!("cannot read {}: {err}", file.display()),
                )
                .to_string()
            })?;
            let parsed = areas::parse(&text).map_err(|err| {
                Message::new(
                    format!("{} 第 {} 行：{}", file.display(), err.line, err.message.zh),
                    format!("{} line {}: {}", file.display(), err.line, err.message.en),
                )
                .to_string()
            })?;
            let count = areas::import(&db, &parsed).await.map_err(database_failed)?;
            audit_cli(
                &db,
                "areas.import",
                &file.display().to_string(),
                &format!("{count} areas"),
            )
            .await?;
            println!("imported {count} areas");
            Ok(())
        }
        Command::Device { command } => device_cli::run(&db, command).await,
        // Answered above, before any database is opened.
        Command::Review { .. } | Command::Login { .. } => Ok(()),
    }
}

/// A database error in the middle of a command, in both languages.
fn database_failed(err: sqlx::Error) -> String {
    Message::new(format!("数据库出错：{err}"), format!("database: {err}")).to_string()
}
