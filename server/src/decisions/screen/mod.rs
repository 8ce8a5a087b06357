//! Screening: what a device may write, decided change by change before the server accepts
//! an upload.
//!
//! A phone is a volunteer's tool. It records fields of households in its villages; it does
//! not move households between villages, delete them, merge them, or decide review items:
//! those are county staff's, and the server makes their changes itself. Automerge would
//! apply any well-formed change, so the server reads every uploaded change's operations
//! and holds each against these rules. A refused change is not dropped: it goes to
//! quarantine (`decisions::quarantine`) for county staff to release or discard.
//!
//! Automerge changes build on earlier ones, so a change that depends on a refused (or
//! already quarantined) change cannot be applied either; it waits in quarantine for that
//! change's decision. A change breaking a rule of its own is refused for that rule first,
//! so staff see what is wrong with it rather than only what it waits for.
//!
//! Everything here is pure: the caller reads the stored document and the quarantine, and
//! writes what is decided.
//!
//! `rule.rs` holds the rules' codes and the refusal; `own_rules.rs` what one change may not
//! do on its own; this file what follows for the changes built on a refused one.

mod own_rules;
mod rule;

pub use rule::{ScreenRefusal, by_rule, first_refusal, short_hash};

use crate::access::device_tokens::Device;
use automerge::ExpandedChange;
use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{Automerge, Change, ChangeHash};
use own_rules::own_rule;
use schema::Message;
use schema::quarantine::Rule;
use std::collections::HashSet;

/// What the server holds of the household an upload is for.
#[derive(Debug, Clone, Copy)]
pub struct Household<'a> {
    /// Its village: as stored, or as the quarantined change that would create it says.
    /// `None` when neither the server nor the upload names one.
    pub village: Option<&'a str>,
    /// Whether the server has the household's document. Until it does, the upload's first
    /// change may create it.
    pub exists: bool,
    /// The document as the server holds it (empty when it does not exist).
    pub doc: &'a Automerge,
    /// Changes of this household in quarantine, which the upload may build on or send again.
    pub held: &'a HashSet<ChangeHash>,
}

/// Screens a device's new changes to one household, in upload order. One verdict per
/// change: `None` to accept it, or why it is refused.
pub fn screen(
    device: &Device,
    household: Household<'_>,
    changes: &[Change],
) -> Vec<Option<ScreenRefusal>> {
    // Each change's operations, decoded once: decoding is most of screening's cost.
    let decoded: Vec<ExpandedChange> = changes.iter().map(Change::decode).collect();
    let creation = if household.exists {
        None
    } else {
        decoded.iter().position(creates_household)
    };
    let village = household
        .village
        .map(str::to_owned)
        .or_else(|| creation.and_then(|i| created_village(&decoded[i])));
    let mut verdicts: Vec<Option<ScreenRefusal>> = changes
        .iter()
        .zip(&decoded)
        .enumerate()
        .map(|(i, (change, ops))| own_rule(household, change, ops, creation == Some(i)))
        .collect();

    // A change cannot be applied without the changes it builds on: those refused here, and
    // those in quarantine already, unless this upload sends one again and it passes now.
    // Repeated until nothing more is refused, so the upload's order does not matter.
    let mut blocked: HashSet<ChangeHash> = household.held.clone();
    for (change, verdict) in changes.iter().zip(&verdicts) {
        if verdict.is_some() {
            blocked.insert(change.hash());
        } else {
            blocked.remove(&change.hash());
        }
    }
    loop {
        let mut more = false;
        for (change, verdict) in changes.iter().zip(verdicts.iter_mut()) {
            if verdict.is_some() {
                continue;
            }
            if let Some(dep) = change.deps().iter().find(|dep| blocked.contains(dep)) {
                *verdict = Some(ScreenRefusal::waits(*dep));
                blocked.insert(change.hash());
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    // Scope is the household's, not one change's: every change is refused, and one built on
    // another the server does not take waits for it, so that releasing the first releases
    // the run of edits built on it.
    if let Some(village) = village.as_deref().filter(|v| !device.covers(v)) {
        let sent: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
        for (change, verdict) in changes.iter().zip(verdicts.iter_mut()) {
            if verdict.is_some() {
                continue;
            }
            let on = change
                .deps()
                .iter()
                .find(|dep| sent.contains(dep) || household.held.contains(dep));
            *verdict = Some(match on {
                Some(dep) => ScreenRefusal::waits(*dep),
                None => out_of_scope(village),
            });
        }
    }
    // Until the household exists, nothing of it can be accepted without the change that
    // creates it: a change that does not build on it is not from a phone.
    if !household.exists {
        let first = match creation {
            Some(i) => Some(changes[i].hash()).filter(|hash| blocked.contains(hash)),
            // Sent earlier and held: it is among the held changes.
            None => household
                .held
                .iter()
                .filter(|h| blocked.contains(h))
                .min()
                .copied(),
        };
        if let Some(first) = first {
            for (change, verdict) in changes.iter().zip(verdicts.iter_mut()) {
                if verdict.is_none() && change.hash() != first {
                    *verdict = Some(ScreenRefusal::waits(first));
                }
            }
        }
    }
    verdicts
}

/// Whether a change writes `household.id`: the change a phone creates a household with.
fn creates_household(change: &ExpandedChange) -> bool {
    change.operations.iter().any(|op| {
        matches!(
            (&op.obj, &op.key, &op.action),
            (ObjectId::Root, Key::Map(key), OpType::Put(_)) if key.as_str() == "household.id"
        )
    })
}

/// The village a household-creating change sets.
fn created_village(change: &ExpandedChange) -> Option<String> {
    change
        .operations
        .iter()
        .find_map(|op| match (&op.obj, &op.key, &op.action) {
            (ObjectId::Root, Key::Map(key), OpType::Put(value))
                if key.as_str() == "household.village" =>
            {
                value.as_str().map(str::to_owned)
            }
            _ => None,
        })
}

fn out_of_scope(village: &str) -> ScreenRefusal {
    ScreenRefusal::new(
        Rule::OutOfScope,
        Message::new(
            format!("该户属于村 {village}，不在本设备负责的村内；修改已交县里工作人员审核"),
            format!(
                "This household belongs to village {village}, which is not assigned to this device; the changes are held for county staff to review"
            ),
        ),
    )
}

#[cfg(test)]
mod tests;
