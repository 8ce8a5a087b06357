//! What the decisions' unit tests start from: a household as a phone first records it, a
//! staff member who signs decisions, and an edit made on a phone.

#![allow(clippy::unwrap_used)]

use super::changes::Signer;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ROOT};
use schema::ids::{AreaCode, HouseholdId};
use schema::layout::{self, ActorInfo};

/// A household just recorded: its id, village and number, in one change.
pub(super) fn household() -> AutoCommit {
    recorded(|_| {})
}

/// A household recorded with its address, "东街 1 号", in the same one change.
pub(super) fn household_with_address() -> AutoCommit {
    recorded(|doc| {
        doc.put(ROOT, "household.address", "东街 1 号").unwrap();
    })
}

fn recorded(also: impl FnOnce(&mut AutoCommit)) -> AutoCommit {
    let mut doc = AutoCommit::new();
    let id = HouseholdId::from_random([7; 16]);
    let village = AreaCode::parse_village("141124100201").unwrap();
    layout::init_household(&mut doc, &id, &village, "0001", 1_700_000_000).unwrap();
    also(&mut doc);
    doc.commit();
    doc
}

/// A staff member whose account id and name are both `name`.
pub(super) fn staff(name: &str) -> Signer {
    Signer {
        id: name.to_owned(),
        name: name.to_owned(),
    }
}

/// A change made on a phone forked from `doc`, not applied to it: what `write` does, signed
/// by the phone's volunteer (王芳) and forging a staff name besides.
pub(super) fn phone_edit(doc: &mut AutoCommit, write: impl FnOnce(&mut AutoCommit)) -> Change {
    let mut phone = doc.fork();
    phone.set_actor(ActorId::random());
    let actor = phone.get_actor().to_hex_string();
    write(&mut phone);
    let info = ActorInfo {
        device: Some("phone".to_owned()),
        volunteer: Some("王芳".to_owned()),
        staff: Some("冒充".to_owned()),
    };
    layout::write_actor(&mut phone, &actor, &info).unwrap();
    phone.commit_with(CommitOptions::default().with_message(layout::review_message("x", None)));
    phone.get_last_local_change().unwrap()
}
