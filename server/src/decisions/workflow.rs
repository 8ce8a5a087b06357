//! What the decision workflows share: whether an item or household is in the staff
//! member's area, loading a household to decide on, and the refusals for what is not there.

use crate::access::accounts;
use crate::decisions::changes::Signer;
use crate::decisions::error::{DecisionError, ReviewError};
use crate::decisions::review::{self, ItemRow, Kind, ReviewStatus};
use crate::storage::ledger::Ledger;
use automerge::AutoCommit;
use schema::Message;
use schema::ids::AreaCode;
use schema::layout;

/// How a staff account signs the changes of its decisions.
pub(crate) fn signer_of(account: &accounts::Account) -> Signer {
    Signer {
        id: account.id.clone(),
        name: account.name.clone(),
    }
}

pub fn item_not_found(id: &str) -> ReviewError {
    ReviewError::NotFound(Message::new(
        format!("没有审核项“{id}”，或不在您的区划内"),
        format!("No review item \"{id}\" in your area"),
    ))
}

pub(crate) fn household_not_found(id: &str) -> ReviewError {
    ReviewError::NotFound(Message::new(
        format!("没有户“{id}”，或不在您的区划内"),
        format!("No household \"{id}\" in your area"),
    ))
}

/// Whether a village lies in the staff member's area.
pub fn covers(account: &accounts::Account, village: &str) -> bool {
    AreaCode::parse(village).is_ok_and(|v| account.scope.contains(&v))
}

/// A live (not merged) household in the staff member's area, loaded to be written.
pub(crate) async fn load_live(
    ledger: &Ledger,
    conn: &mut sqlx::AnyConnection,
    account: &accounts::Account,
    id: &str,
) -> Result<(String, AutoCommit), ReviewError> {
    let (village, mut doc) = ledger
        .load_for_write(conn, id)
        .await?
        .filter(|(village, _)| covers(account, village))
        .ok_or_else(|| household_not_found(id))?;
    let view = layout::read_household(doc.document()).map_err(DecisionError::from)?;
    if let Some(into) = view.household_text("merged_into") {
        return Err(ReviewError::Refused(Message::new(
            format!("户“{id}”已经并入户“{into}”"),
            format!("Household \"{id}\" was already merged into \"{into}\""),
        )));
    }
    Ok((village, doc))
}

/// An open duplicate item between two households, in the staff member's area: the pair it
/// names. An item about one household's own members names no pair.
pub(crate) async fn open_pair(
    conn: &mut sqlx::AnyConnection,
    account: &accounts::Account,
    item_id: &str,
) -> Result<(ItemRow, String), ReviewError> {
    let item = review::item(conn, item_id)
        .await?
        .filter(|item| covers(account, &item.village))
        .ok_or_else(|| item_not_found(item_id))?;
    let other = match (&item.kind, &item.other_household_id) {
        (Kind::Duplicate, Some(other)) => other.clone(),
        _ => {
            return Err(ReviewError::Refused(Message::new(
                "只有两户之间的重复项可以这样处理",
                "Only a duplicate between two households can be settled this way",
            )));
        }
    };
    if item.status != ReviewStatus::Open {
        return Err(ReviewError::Refused(Message::new(
            format!("该项已处理（{}）", item.status.as_str()),
            format!("The item is already closed ({})", item.status.as_str()),
        )));
    }
    Ok((item, other))
}
