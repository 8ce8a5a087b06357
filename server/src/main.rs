//! `doorstep`: the server binary. Runs the server, and manages devices and tokens.

mod review_cli;

use clap::{Parser, Subcommand};
use doorstep_server::{config, db::Db};
use schema::ids::AreaCode;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

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
    },
    /// Manage devices.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Manage operator tokens (staff access to the register, until accounts exist).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Work through the review queue of a running server.
    Review {
        /// The server's address.
        #[arg(long, env = "DOORSTEP_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Your operator token (`doorstep token add`).
        #[arg(long, env = "DOORSTEP_TOKEN", hide_env_values = true)]
        token: String,
        #[command(subcommand)]
        command: review_cli::ReviewCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Register a device for one or more villages and print its token.
    Add {
        #[arg(long = "village", required = true)]
        villages: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an operator token for a staff member and an area, and print it.
    Add {
        #[arg(long)]
        scope: String,
        /// The staff member's name, as their review decisions record it.
        #[arg(long, default_value = "")]
        name: String,
    },
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
        Err(err) => return fail(&format!("cannot start the runtime: {err}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<(), String> {
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
            .map_err(|err| err.to_string())?;
    }
    let url = config::database_url(&cli.data, cli.database_url.as_deref())
        .map_err(|err| format!("cannot create {}: {err}", cli.data.display()))?;
    let db = Db::connect(&url)
        .await
        .map_err(|err| format!("cannot open the database: {err}"))?;
    db.migrate()
        .await
        .map_err(|err| format!("cannot migrate the database: {err}"))?;
    match cli.command {
        Command::Serve { listen } => doorstep_server::serve(db, listen)
            .await
            .map_err(|err| format!("server failed: {err}")),
        Command::Device {
            command: DeviceCommand::Add { villages, name },
        } => {
            let villages = villages
                .iter()
                .map(|code| AreaCode::parse_village(code).map_err(|err| err.message.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let name = if name.is_empty() {
                format!("device for {}", villages[0])
            } else {
                name
            };
            let (_, token) = doorstep_server::auth::add_device(&db, &name, &villages)
                .await
                .map_err(|err| format!("cannot add the device: {err}"))?;
            println!("{token}");
            Ok(())
        }
        // Answered above, before any database is opened.
        Command::Review { .. } => Ok(()),
        Command::Token {
            command: TokenCommand::Add { scope, name },
        } => {
            let scope = AreaCode::parse(&scope).map_err(|err| err.message.to_string())?;
            let name = if name.is_empty() {
                format!("staff of {scope}")
            } else {
                name
            };
            let token = doorstep_server::auth::add_operator(&db, &name, &scope)
                .await
                .map_err(|err| format!("cannot add the token: {err}"))?;
            println!("{token}");
            Ok(())
        }
    }
}
