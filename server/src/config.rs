//! Where the server keeps its data: SQLite under `--data` unless a PostgreSQL URL is given.

use std::path::{Path, PathBuf};

/// The embedded default: one SQLite file under the data directory.
pub const DEFAULT_DATA_DIR: &str = "./data";

/// The database URL: `--database-url`/`DATABASE_URL` when given, else SQLite in `data`.
pub fn database_url(data: &Path, explicit: Option<&str>) -> std::io::Result<String> {
    if let Some(url) = explicit.filter(|url| !url.trim().is_empty()) {
        return Ok(url.to_owned());
    }
    std::fs::create_dir_all(data)?;
    let file: PathBuf = data.join("doorstep.db");
    Ok(format!("sqlite://{}?mode=rwc", file.display()))
}
