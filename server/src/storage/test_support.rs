//! What the storage tests start from: a SQLite database as an older server left it, and a
//! document row written straight into it.

use super::db::Db;
use std::path::Path;

/// A SQLite database in `dir` migrated as a server before migration `first_missing` (its
/// number, as "0006") left it: every migration before that one and none after.
pub(super) async fn sqlite_before(dir: &Path, first_missing: &str) -> Db {
    let before = dir.join("before");
    std::fs::create_dir(&before).expect("a folder for the older migrations");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&source).expect("the SQLite migrations") {
        let entry = entry.expect("a migration");
        let name = entry.file_name().into_string().expect("a UTF-8 name");
        if name.as_str() < first_missing {
            std::fs::copy(entry.path(), before.join(&name)).expect("the migration copies");
        }
    }
    let url = format!("sqlite://{}?mode=rwc", dir.join("old.db").display());
    let db = Db::connect(&url).await.expect("SQLite opens");
    sqlx::migrate::Migrator::new(before.as_path())
        .await
        .expect("the older migrations read")
        .run(&db.pool)
        .await
        .expect("the older migrations run");
    db
}

/// A household's document row with no heads, as if its changes were stored.
pub(super) async fn insert_document_row(
    db: &Db,
    household: &str,
    village: &str,
    last_feed: i64,
    updated_at: i64,
) {
    sqlx::query(
        "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(household)
    .bind(village)
    .bind(Vec::<u8>::new())
    .bind(last_feed)
    .bind(updated_at)
    .execute(&db.pool)
    .await
    .expect("the document row is written");
}
