#![allow(clippy::unwrap_used)]
use crate::storage::test_support::{insert_document_row, sqlite_before};
use crate::storage::vault::AUTOMERGE_MAGIC;

const VILLAGE: &str = "141124100201";

#[tokio::test]
async fn test_a_database_with_documents_stored_in_the_clear_is_not_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_before(dir.path(), "0006").await;
    insert_document_row(&db, "h", VILLAGE, 1, 0).await;
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
