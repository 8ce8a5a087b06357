#![allow(clippy::unwrap_used)]
use crate::storage::db::Db;
use crate::storage::vault::AUTOMERGE_MAGIC;

const VILLAGE: &str = "141124100201";

#[tokio::test]
async fn test_a_database_with_documents_stored_in_the_clear_is_not_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before");
    std::fs::create_dir(&before).unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < "0006" {
            std::fs::copy(entry.path(), before.join(&name)).unwrap();
        }
    }
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let db = Db::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(before.as_path())
        .await
        .unwrap()
        .run(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
         VALUES ('h', $1, $2, 1, 0)",
    )
    .bind(VILLAGE)
    .bind(Vec::<u8>::new())
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO change (household_id, hash, actor, bytes, received_at)
         VALUES ('h', $1, 'a', $2, 0)",
    )
    .bind(vec![1u8; 32])
    .bind(AUTOMERGE_MAGIC.to_vec())
    .execute(&db.pool)
    .await
    .unwrap();
    let refused = db.migrate().await.unwrap_err().to_string();
    assert!(refused.contains("re-create this database"), "{refused}");
}
