//! Settling a duplicate as not the same household.

use crate::access::accounts;
use crate::access::audit::{self, Entry, Outcome};
use crate::decisions::error::ReviewError;
use crate::decisions::review::{self, ItemRow, ReviewStatus};
use crate::decisions::workflow::{item_not_found, open_pair, signer_of};
use crate::storage::ledger::Ledger;
use schema::Message;
use serde::Serialize;

/// What became of settling a duplicate as not the same household.
#[derive(Debug, Serialize)]
pub struct DismissOutcome {
    pub item: ItemRow,
    pub message: Message,
}

/// Settles a duplicate item as "not the same household": nothing in either household
/// changes. The item stays closed when the same finding comes back, and opens again only if
/// the two households come to share something new.
pub async fn dismiss(
    ledger: &Ledger,
    account: &accounts::Account,
    client: &str,
    item_id: &str,
    comment: &str,
) -> Result<DismissOutcome, ReviewError> {
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(ReviewError::Refused(Message::new(
            "请说明为什么不是同一户（comment）",
            "Say why these are not the same household (comment)",
        )));
    }
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let (item, _) = open_pair(&mut write.tx, account, item_id).await?;
    let staff = signer_of(account);
    review::close(&mut write.tx, item_id, ReviewStatus::Dismissed, now).await?;
    review::record(
        &mut write.tx,
        item_id,
        now,
        &account.id,
        "dismissed",
        &serde_json::json!({
            "staff": staff.name,
            "comment": comment,
            "summary": item.summary,
        }),
    )
    .await?;
    let entry = Entry::new("review.dismiss", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(item_id)
        .from(client);
    audit::record_in(&mut write.tx, entry, now).await?;
    let after = review::item(&mut write.tx, item_id)
        .await?
        .ok_or_else(|| item_not_found(item_id))?;
    write.commit().await?;
    Ok(DismissOutcome {
        item: after,
        message: Message::new(
            "已确定不是同一户；除非两户出现新的相同信息，该项不再打开",
            "Settled as not the same household; the item stays closed unless the two come to share something new",
        ),
    })
}
