//! The `doorstep` binary's commands (layer 5, beside `http`): the operator's commands that
//! work on the database directly (admin, staff, areas, device), and the terminal client of a
//! running server (`login`, `review`). They may use every layer below `http`, never `http`,
//! and `http` never uses them.

pub mod admin;
pub mod areas;
pub mod device;
pub mod report;
pub mod review;
pub mod roster;
pub mod settings;
pub mod staff;

use crate::access::audit::{self, Entry, Outcome};
use crate::clock::Clock;
use crate::config;
use crate::storage::db::Db;
use crate::storage::vault::Vault;
use crate::storage::{areas as area_list, data_key};
use schema::Message;
use std::path::{Path, PathBuf};

/// Where the operator's data is, as the global options name it.
#[derive(Debug, Clone)]
pub struct DataOptions {
    /// Directory for the embedded SQLite database.
    pub data: PathBuf,
    /// PostgreSQL URL; SQLite under `data` when absent.
    pub database_url: Option<String>,
    /// The data key file (`--data-key-file`).
    pub data_key_file: Option<PathBuf>,
}

/// Opens and migrates the database, opens the data key's vault and loads the default areas:
/// what every command that works on the database needs first.
pub async fn open(options: &DataOptions, clock: &Clock) -> Result<(Db, Vault), String> {
    let url =
        config::database_url(&options.data, options.database_url.as_deref()).map_err(|err| {
            Message::new(
                format!("无法创建数据目录 {}：{err}", options.data.display()),
                format!("cannot create {}: {err}", options.data.display()),
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
    let keys = data_key::KeyConfig {
        data_dir: options.data.clone(),
        key: std::env::var("DOORSTEP_DATA_KEY").ok(),
        key_file: options.data_key_file.clone(),
    };
    let vault = data_key::open(&db, &keys, clock)
        .await
        .map_err(|err| match err {
            data_key::KeyError::Refused(message) => message.to_string(),
            data_key::KeyError::Database(err) => database_failed(err),
        })?;
    area_list::ensure_default(&db).await.map_err(|err| {
        Message::new(
            format!("无法载入默认行政区划：{err}"),
            format!("cannot load the default areas: {err}"),
        )
        .to_string()
    })?;
    Ok((db, vault))
}

/// Records an act done at the server's command line, by someone with the database.
pub(crate) async fn audit_operator(
    db: &Db,
    clock: &Clock,
    action: &'static str,
    target: &str,
    detail: &str,
) -> Result<(), String> {
    let entry = Entry::new(action, Outcome::Ok)
        .by("operator", "operator")
        .on(target)
        .from("cli")
        .saying(detail);
    audit::record(db, entry, clock.now_seconds())
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
pub fn read_password() -> Result<String, String> {
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

/// A database error in the middle of a command, in both languages.
pub fn database_failed(err: sqlx::Error) -> String {
    Message::new(format!("数据库出错：{err}"), format!("database: {err}")).to_string()
}

/// A file named on the command line that cannot be read, in both languages.
pub(crate) fn unreadable(file: &Path, err: &std::io::Error) -> String {
    Message::new(
        format!("无法读取文件 {}：{err}", file.display()),
        format!("cannot read {}: {err}", file.display()),
    )
    .to_string()
}
