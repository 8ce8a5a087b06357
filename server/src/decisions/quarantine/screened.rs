//! An upload's new changes sorted by screening: what to apply now, and what to hold.

use super::HeldChange;
use super::HoldStatus;
use crate::access::device_tokens::Device;
use crate::decisions::screen::{self, ScreenRefusal};
use automerge::{Automerge, Change, ChangeHash};
use schema::quarantine::Rule;
use schema::wire::{Bytes, UploadOutcome};
use std::collections::{HashMap, HashSet};

/// An upload's new changes, screened: what to apply now, and what to hold.
#[derive(Debug)]
pub struct Screened {
    pub accepted: Vec<Change>,
    /// Refused: new quarantine rows, or changes held already that were sent again.
    pub refused: Vec<(Change, ScreenRefusal)>,
    /// Held changes sent again that pass now (a device allowed to write them sent them):
    /// they are applied, and their items close as accepted.
    pub admitted: Vec<ChangeHash>,
    /// The household's village, for the quarantine rows.
    pub village: String,
    /// What the device is told: the first rule broken, or, for changes that only wait, the
    /// rule the change they wait for broke.
    root: Option<ScreenRefusal>,
    already_held: HashSet<ChangeHash>,
}

impl Screened {
    /// Screens a device's new changes to one household. `stored_village` is the village of
    /// the household's document, `None` when the server has none; `doc` is that document.
    pub fn of(
        device: &Device,
        stored_village: Option<&str>,
        doc: &Automerge,
        changes: Vec<Change>,
        held: &[HeldChange],
    ) -> Screened {
        let exists = stored_village.is_some();
        let already_held: HashSet<ChangeHash> = held.iter().map(|h| h.change.hash()).collect();
        let village = stored_village
            .map(str::to_owned)
            .or_else(|| held.first().map(|h| h.village.clone()));
        let household = screen::Household {
            village: village.as_deref(),
            exists,
            doc,
            held: &already_held,
        };
        let verdicts = screen::screen(device, household, &changes);
        let (mut accepted, mut refused, mut admitted) = (Vec::new(), Vec::new(), Vec::new());
        for (change, verdict) in changes.into_iter().zip(verdicts) {
            match verdict {
                None => {
                    if already_held.contains(&change.hash()) {
                        admitted.push(change.hash());
                    }
                    accepted.push(change);
                }
                Some(refusal) => refused.push((change, refusal)),
            }
        }
        let root = screen::first_refusal(refused.iter().map(|(_, r)| r))
            .map(|first| root_cause(first, held));
        Screened {
            accepted,
            refused,
            admitted,
            village: village.unwrap_or_default(),
            root,
            already_held,
        }
    }

    /// For an upload with nothing new: the device's own changes still open in quarantine,
    /// if any. A device asks with an empty upload while it shows a note; until staff decide
    /// it hears they are still held, and afterwards `accepted`, which clears the note.
    pub fn still_held(device: &Device, held: &[HeldChange]) -> Option<Screened> {
        let own: Vec<&HeldChange> = held
            .iter()
            .filter(|h| h.status == HoldStatus::Open && h.device_id == device.id)
            .collect();
        let first = own.first()?;
        let refused: Vec<(Change, ScreenRefusal)> = own
            .iter()
            .map(|h| {
                let refusal = ScreenRefusal {
                    rule: h.rule.unwrap_or(Rule::Waits),
                    reason: h.reason.clone(),
                    waits_for: h.waits_for,
                };
                (h.change.clone(), refusal)
            })
            .collect();
        let root = screen::first_refusal(refused.iter().map(|(_, r)| r))
            .map(|first| root_cause(first, held));
        Some(Screened {
            accepted: Vec::new(),
            already_held: refused.iter().map(|(c, _)| c.hash()).collect(),
            refused,
            admitted: Vec::new(),
            village: first.village.clone(),
            root,
        })
    }

    /// Whether anything is refused.
    pub fn holds(&self) -> bool {
        !self.refused.is_empty()
    }

    /// Whether anything is left for the quarantine table to record.
    pub fn records(&self) -> bool {
        self.holds() || !self.admitted.is_empty()
    }

    /// The whole upload with the held changes it may build on: what must apply, as a
    /// household's history, before anything of it is quarantined.
    pub fn whole(&self, held: &[HeldChange]) -> Vec<Change> {
        let mut all: Vec<Change> = self.accepted.clone();
        all.extend(self.refused.iter().map(|(c, _)| c.clone()));
        let sent: HashSet<ChangeHash> = all.iter().map(Change::hash).collect();
        all.extend(
            held.iter()
                .filter(|h| !sent.contains(&h.change.hash()))
                .map(|h| h.change.clone()),
        );
        all
    }

    /// Refused changes not held before this upload: the rows to add.
    pub(super) fn new_rows(&self) -> impl Iterator<Item = &(Change, ScreenRefusal)> {
        self.refused
            .iter()
            .filter(|(change, _)| !self.already_held.contains(&change.hash()))
    }

    /// What the device is told: what was accepted, and what is held and why.
    pub fn outcome(&self, accepted: UploadOutcome) -> UploadOutcome {
        match (accepted, &self.root) {
            (UploadOutcome::Accepted { heads }, Some(root)) => UploadOutcome::Quarantined {
                heads,
                held: self
                    .refused
                    .iter()
                    .map(|(c, _)| Bytes::from(c.hash().as_ref().to_vec()))
                    .collect(),
                rule: root.rule,
                reason: root.reason.clone(),
            },
            (outcome, _) => outcome,
        }
    }
}

/// For a change that only waits, the refusal of the held change it waits for, followed
/// back to a rule broken: that is what the volunteer can act on.
fn root_cause(first: &ScreenRefusal, held: &[HeldChange]) -> ScreenRefusal {
    let by_hash: HashMap<ChangeHash, &HeldChange> =
        held.iter().map(|h| (h.change.hash(), h)).collect();
    let mut current = first.clone();
    for _ in 0..=held.len() {
        let Some(on) = current.waits_for.filter(|_| current.rule == Rule::Waits) else {
            break;
        };
        let Some(held) = by_hash.get(&on) else { break };
        let Some(rule) = held.rule else { break };
        current = ScreenRefusal {
            rule,
            reason: held.reason.clone(),
            waits_for: held.waits_for,
        };
    }
    current
}

/// One household's screened upload, for [`write_holds`].
#[derive(Debug)]
pub struct ScreenedUpload {
    /// The upload's position in its batch.
    pub index: usize,
    pub household: String,
    pub screened: Screened,
}

impl ScreenedUpload {
    /// The hashes of the changes this upload adds to quarantine.
    pub fn new_hashes(&self) -> Vec<ChangeHash> {
        self.screened.new_rows().map(|(c, _)| c.hash()).collect()
    }
}
