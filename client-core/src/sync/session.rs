//! A sync as a pure session, in rounds of one request each: it turns what the device holds
//! into the next request, and the server's answer into effects on the store, with no I/O.
//! The executor (`super::sync`) reads the store, posts through the transport, applies the
//! effects and reports back what only the store can tell (an update it could not take,
//! the households it dropped).
//!
//! Every round leaves the store consistent: the effects confirm uploads and store received
//! households before the cursor moves. A link that drops mid-round costs only that round;
//! the next sync repeats it, and the server ignores what it already has.

use super::error::SyncError;
use super::state::{Quarantine, Rejection, SyncState};
use crate::error::Error as StoreError;
use automerge::ChangeHash;
use schema::ids::{AreaCode, HouseholdId};
use schema::wire::{
    self, Bytes, Cursor, Payload, RejectCode, SyncRequest, SyncResponse, Upload, UploadOutcome,
};
use serde::Serialize;
use std::collections::BTreeSet;

/// Upload bytes per round, so one request finishes on a slow link.
const UPLOAD_BYTES_PER_ROUND: usize = 256 * 1024;
/// A sync that needs more rounds than this is stopped and reported; the next one goes on.
const MAX_ROUNDS: u32 = 10_000;

/// Where a sync is, reported after every round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncProgress {
    pub round: u32,
    pub households_to_upload: u32,
    pub households_uploaded: u32,
    pub updates_received: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub rounds: u32,
    pub documents_sent: u32,
    pub changes_sent: u32,
    pub documents_received: u32,
    pub changes_received: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Households whose upload the server refused; their data stays on the device.
    pub rejected: Vec<Rejection>,
    /// Households with changes the server holds in quarantine for county staff.
    pub quarantined: Vec<Quarantine>,
    /// Disputed fields across the device's households after the sync.
    pub conflicts: i64,
    /// Changes still unconfirmed after the sync.
    pub unsynced_changes: i64,
    /// Households removed from the device because their village is no longer assigned to
    /// it; the server holds all of their data.
    pub dropped: Vec<String>,
}

/// What the store holds when a sync starts.
#[derive(Debug, Clone)]
pub(crate) struct Start {
    /// The device's Automerge actor, hex.
    pub actor: String,
    pub page_bytes: u32,
    pub state: SyncState,
    /// Households with changes the server has not confirmed.
    pub unsynced: Vec<HouseholdId>,
    pub villages: Vec<AreaCode>,
}

/// A household the next request may carry: the executor reads its changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UploadAsk {
    pub household: HouseholdId,
    /// Every change, not only those beyond what the server confirmed.
    pub full_history: bool,
    /// Held in quarantine at the last upload: asked about even with nothing to send, since
    /// the answer says whether staff have decided.
    pub held: bool,
}

/// What the store is to do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// The server holds the household up to `heads`.
    Confirm {
        household: HouseholdId,
        heads: Vec<ChangeHash>,
    },
    SaveRejection(Rejection),
    ForgetRejection(HouseholdId),
    SaveQuarantine(Quarantine),
    ForgetQuarantine(HouseholdId),
    MarkFullHistory(HouseholdId),
    ForgetFullHistory(HouseholdId),
    /// The deployment's member-key secret, hex, unless the store has one.
    AdoptMemberKeySecret(String),
    AssignVillages(Vec<AreaCode>),
    SaveCursor(Option<Cursor>),
    /// Remove the households of villages outside `keep` that the server holds whole,
    /// sparing `spare`; the executor reports what went with [`Session::dropped`].
    DropHouseholdsOutside {
        keep: Vec<AreaCode>,
        spare: Vec<HouseholdId>,
    },
}

/// A household the answer carries, for the store to merge.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Update {
    pub household: HouseholdId,
    pub payload: Payload,
}

/// How the store took an update, as far as the sync cares. An update it refused for what
/// it holds ends the sync; the executor says so itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    Stored,
    /// Changes whose history the device never got.
    MissingHistory,
    /// A household outside the villages the answer names: the server's list and its feed
    /// disagree. It is not this device's to hold; refusing the whole answer for it would
    /// stop every later sync at the same place.
    NotAssigned,
}

/// What an answer asks of the store: effects first, then the updates to merge.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub effects: Vec<Effect>,
    pub updates: Vec<Update>,
}

/// A sync in progress.
#[derive(Debug)]
pub(crate) struct Session {
    actor: String,
    page_bytes: u32,
    cursor: Option<Cursor>,
    /// Households still to upload, the next at the end.
    pending: Vec<HouseholdId>,
    /// Households held in quarantine when the sync started.
    asked_about: BTreeSet<HouseholdId>,
    /// Households whose next upload carries their whole history.
    full_history: BTreeSet<HouseholdId>,
    /// Households with a quarantine note now.
    quarantined: BTreeSet<HouseholdId>,
    villages: Vec<AreaCode>,
    /// The uploads of the request being built, and their bytes.
    uploads: Vec<Upload>,
    upload_bytes: usize,
    /// Of the answer being applied.
    answer: Option<AnswerState>,
    /// Whether the last answer said more updates are waiting.
    more: bool,
    retried_with_history: BTreeSet<HouseholdId>,
    restarted_download: bool,
    restarted_for_villages: bool,
    /// The round ended by starting the first download again: no progress, no end yet.
    restarted: bool,
    report: SyncReport,
    progress: SyncProgress,
}

/// What the session keeps of an answer until its round ends.
#[derive(Debug)]
struct AnswerState {
    cursor: Cursor,
    more: bool,
    assigned: Option<Vec<AreaCode>>,
    history_gap: bool,
}

impl Session {
    pub fn new(start: Start) -> Session {
        let asked_about: BTreeSet<HouseholdId> = start
            .state
            .quarantined
            .iter()
            .filter_map(|note| HouseholdId::parse(&note.household).ok())
            .collect();
        let pending: BTreeSet<HouseholdId> = start
            .unsynced
            .into_iter()
            .chain(start.state.full_history.iter().cloned())
            .chain(asked_about.iter().cloned())
            .collect();
        let pending: Vec<HouseholdId> = pending.into_iter().rev().collect();
        Session {
            actor: start.actor,
            page_bytes: start.page_bytes,
            cursor: start.state.cursor,
            progress: SyncProgress {
                households_to_upload: pending.len() as u32,
                ..SyncProgress::default()
            },
            pending,
            quarantined: asked_about.clone(),
            asked_about,
            full_history: start.state.full_history.into_iter().collect(),
            villages: start.villages,
            uploads: Vec::new(),
            upload_bytes: 0,
            answer: None,
            more: false,
            retried_with_history: BTreeSet::new(),
            restarted_download: false,
            restarted_for_villages: false,
            restarted: false,
            report: SyncReport::default(),
        }
    }

    /// The next household whose changes the request may carry, while the round's upload
    /// budget lasts.
    pub fn next_upload(&mut self) -> Option<UploadAsk> {
        if self.upload_bytes >= UPLOAD_BYTES_PER_ROUND {
            return None;
        }
        let household = self.pending.pop()?;
        Some(UploadAsk {
            full_history: self.full_history.contains(&household),
            held: self.asked_about.contains(&household),
            household,
        })
    }

    /// Takes the changes the store has for `ask`; `None` when the household is no longer
    /// on the device.
    pub fn add_upload(&mut self, ask: UploadAsk, changes: Option<Vec<Vec<u8>>>) -> Vec<Effect> {
        let Some(changes) = changes else {
            // A note left for a household no longer on the device: nothing to ask about.
            self.quarantined.remove(&ask.household);
            return vec![Effect::ForgetQuarantine(ask.household)];
        };
        if changes.is_empty() && !ask.held {
            return Vec::new();
        }
        self.upload_bytes += changes.iter().map(Vec::len).sum::<usize>();
        self.uploads.push(Upload {
            household: ask.household.to_string(),
            changes: changes.into_iter().map(Bytes::from).collect(),
        });
        Vec::new()
    }

    /// The round's request, carrying the uploads added since the last one.
    pub fn request(&mut self) -> SyncRequest {
        self.upload_bytes = 0;
        SyncRequest {
            protocol: wire::PROTOCOL_VERSION,
            actor: self.actor.clone(),
            cursor: self.cursor.clone(),
            uploads: std::mem::take(&mut self.uploads),
            page_bytes: self.page_bytes,
        }
    }

    /// Reads the server's answer to `request`: `sent` and `received` are the bytes on the
    /// wire.
    pub fn answer(
        &mut self,
        request: &SyncRequest,
        sent: u64,
        received: u64,
        response: SyncResponse,
    ) -> Answer {
        self.restarted = false;
        self.report.rounds += 1;
        self.report.bytes_sent += sent;
        self.report.bytes_received += received;
        for upload in &request.uploads {
            self.report.documents_sent += 1;
            self.report.changes_sent += upload.changes.len() as u32;
        }
        let mut effects = Vec::new();
        for result in response.results {
            let Ok(household) = HouseholdId::parse(&result.household) else {
                continue;
            };
            self.outcome(household, result.outcome, &mut effects);
        }
        if let Some(secret) = response.member_key_secret {
            effects.push(Effect::AdoptMemberKeySecret(secret));
        }
        // The device's villages first: what the answer carries may already be of a village
        // added to it, which the store only takes once it knows the village is its own.
        let assigned: Option<Vec<AreaCode>> = response.villages.as_ref().map(|codes| {
            codes
                .iter()
                .filter_map(|code| AreaCode::parse_village(code).ok())
                .collect()
        });
        if let Some(assigned) = &assigned {
            let before = std::mem::replace(&mut self.villages, assigned.clone());
            if *assigned != before {
                effects.push(Effect::AssignVillages(assigned.clone()));
            }
            // A village added since the device's download: its households predate the
            // cursor, so the feed will never send them. A store never told its villages
            // got everything it covered, so only a known list can gain one. The first
            // download sends every household whole, so this answer's updates can wait.
            let gained = !before.is_empty() && assigned.iter().any(|v| !before.contains(v));
            if gained && request.cursor.is_some() && !self.restarted_for_villages {
                self.restarted_for_villages = true;
                self.restart(&mut effects);
                return Answer {
                    effects,
                    updates: Vec::new(),
                };
            }
        }
        let mut updates = Vec::new();
        for update in response.updates {
            let Ok(household) = HouseholdId::parse(&update.household) else {
                continue;
            };
            match &update.payload {
                Payload::Document(_) => self.report.documents_received += 1,
                Payload::Changes(changes) => {
                    self.report.changes_received += changes.len() as u32;
                }
            }
            updates.push(Update {
                household,
                payload: update.payload,
            });
        }
        self.answer = Some(AnswerState {
            cursor: response.cursor,
            more: response.more,
            assigned,
            history_gap: false,
        });
        Answer { effects, updates }
    }

    /// What one upload's result asks of the store.
    fn outcome(
        &mut self,
        household: HouseholdId,
        outcome: UploadOutcome,
        effects: &mut Vec<Effect>,
    ) {
        match outcome {
            UploadOutcome::Accepted { heads } => {
                effects.push(Effect::Confirm {
                    household: household.clone(),
                    heads: hashes(&heads),
                });
                self.report
                    .rejected
                    .retain(|r| r.household != household.as_str());
                self.quarantined.remove(&household);
                self.full_history.remove(&household);
                effects.push(Effect::ForgetRejection(household.clone()));
                effects.push(Effect::ForgetQuarantine(household.clone()));
                effects.push(Effect::ForgetFullHistory(household));
                self.progress.households_uploaded += 1;
            }
            UploadOutcome::Quarantined {
                heads,
                held,
                rule,
                reason,
            } => {
                // The server holds every change it was sent, applied or in quarantine:
                // none is sent again, and the changes built on them later are held with
                // them until staff decide.
                let mut confirmed = hashes(&heads);
                confirmed.extend(hashes(&held));
                effects.push(Effect::Confirm {
                    household: household.clone(),
                    heads: confirmed,
                });
                self.report
                    .rejected
                    .retain(|r| r.household != household.as_str());
                self.full_history.remove(&household);
                effects.push(Effect::ForgetRejection(household.clone()));
                effects.push(Effect::ForgetFullHistory(household.clone()));
                let note = Quarantine {
                    household: household.to_string(),
                    rule,
                    reason,
                    changes: held.len() as u32,
                };
                self.quarantined.insert(household);
                effects.push(Effect::SaveQuarantine(note.clone()));
                self.report
                    .quarantined
                    .retain(|q| q.household != note.household);
                self.report.quarantined.push(note);
                self.progress.households_uploaded += 1;
            }
            UploadOutcome::Rejected { code, reason } => {
                if code == RejectCode::MissingHistory {
                    self.full_history.insert(household.clone());
                    effects.push(Effect::MarkFullHistory(household.clone()));
                    if self.retried_with_history.insert(household.clone()) {
                        self.pending.push(household.clone());
                    }
                }
                let rejection = Rejection {
                    household: household.to_string(),
                    code,
                    reason,
                };
                effects.push(Effect::SaveRejection(rejection.clone()));
                self.report
                    .rejected
                    .retain(|r| r.household != rejection.household);
                self.report.rejected.push(rejection);
            }
        }
    }

    /// How the store took one of the answer's updates.
    pub fn applied(&mut self, applied: Applied) {
        if applied == Applied::MissingHistory
            && let Some(answer) = &mut self.answer
        {
            answer.history_gap = true;
        }
        self.progress.updates_received += 1;
    }

    /// Once every update is stored: the cursor moves, and households of villages taken
    /// from the device may go.
    pub fn updates_stored(&mut self) -> Result<Vec<Effect>, SyncError> {
        let Some(answer) = self.answer.take() else {
            // The round restarted the download when the answer was read.
            return Ok(Vec::new());
        };
        let mut effects = Vec::new();
        if answer.history_gap {
            if self.restarted_download {
                return Err(StoreError::MissingDependencies(1).into());
            }
            // The feed sent changes whose history this device never got (its cursor is
            // wrong, or its villages changed). Start the first download again, once:
            // whole households always apply.
            self.restarted_download = true;
            self.restart(&mut effects);
            return Ok(effects);
        }
        // Only now, with every update stored, may the cursor move.
        effects.push(Effect::SaveCursor(Some(answer.cursor.clone())));
        self.cursor = Some(answer.cursor);
        // This round's confirmations are stored: households of villages taken from the
        // device leave it now if the server holds all of them. The others stay for a
        // later round or sync. An empty list is no instruction to empty the phone.
        if let Some(keep) = answer.assigned.filter(|list| !list.is_empty()) {
            // Changes held in quarantine are on the server but not in the register: the
            // volunteer keeps the household, and the note why, until staff decide.
            effects.push(Effect::DropHouseholdsOutside {
                keep,
                spare: self.quarantined.iter().cloned().collect(),
            });
        }
        self.more = answer.more;
        Ok(effects)
    }

    /// The households the store removed: their notes go with them.
    pub fn dropped(&mut self, households: Vec<HouseholdId>) -> Vec<Effect> {
        let mut effects = Vec::new();
        for household in households {
            self.report
                .rejected
                .retain(|r| r.household != household.as_str());
            self.report
                .quarantined
                .retain(|q| q.household != household.as_str());
            self.quarantined.remove(&household);
            self.full_history.remove(&household);
            effects.push(Effect::ForgetRejection(household.clone()));
            effects.push(Effect::ForgetQuarantine(household.clone()));
            effects.push(Effect::ForgetFullHistory(household.clone()));
            self.report.dropped.push(household.to_string());
        }
        effects
    }

    /// Ends the round: its progress, unless it only started the download again.
    pub fn end_round(&mut self) -> Option<SyncProgress> {
        if self.restarted {
            return None;
        }
        self.progress.round = self.report.rounds;
        self.progress.bytes_sent = self.report.bytes_sent;
        self.progress.bytes_received = self.report.bytes_received;
        Some(self.progress.clone())
    }

    /// Whether the sync is over: nothing left to send or receive, or too many rounds.
    pub fn finished(&self) -> bool {
        (self.pending.is_empty() && !self.more) || self.report.rounds >= MAX_ROUNDS
    }

    /// The report, with what the store counts once the sync is over.
    pub fn report(self, conflicts: i64, unsynced_changes: i64) -> SyncReport {
        SyncReport {
            conflicts,
            unsynced_changes,
            ..self.report
        }
    }

    fn restart(&mut self, effects: &mut Vec<Effect>) {
        effects.push(Effect::SaveCursor(None));
        self.cursor = None;
        self.answer = None;
        self.restarted = true;
    }
}

fn hashes(bytes: &[Bytes]) -> Vec<ChangeHash> {
    bytes
        .iter()
        .filter_map(|h| ChangeHash::try_from(h.as_slice()).ok())
        .collect()
}
