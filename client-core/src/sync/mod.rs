//! The sync client: uploads what the server has not confirmed and applies what the device
//! lacks, in rounds of one request each, as `docs/PROTOCOL.md` describes.
//!
//! Its decisions are a pure session (`session`): the store's state in, a request out; an
//! answer in, effects out. This module is the executor around it: it reads the store,
//! posts through the [`Transport`], and applies the effects, in order, to the store and to
//! the sync state of the device schema (`state`). Enrollment goes through the same
//! transport (`enroll`).

mod enroll;
mod error;
mod session;
mod state;

pub use crate::transport::{HttpTransport, Timeouts, Transport, TransportError};
pub use enroll::{Enrollment, enroll, enroll_through};
pub use error::SyncError;
pub use session::{SyncProgress, SyncReport};
pub use state::{
    Quarantine, Rejection, Revocation, cursor, quarantined, rejections, revocation_of, set_cursor,
};

use crate::error::Error as StoreError;
use crate::store::{SearchQuery, Store};
use error::{refused_update, revocation, server_error};
use schema::Message;
use schema::wire::{self, Payload, SyncResponse};
use session::{Applied, Effect, Session, Start, Update, UploadAsk};
use state::Note;
use std::sync::atomic::{AtomicBool, Ordering};

const SERVER_KEY: &str = "server";
const TOKEN_KEY: &str = "token";

/// Whether the store has a server to sync with (`connect` or `enroll` was done, and the
/// device was not revoked since).
pub fn is_connected(store: &Store) -> Result<bool, StoreError> {
    Ok(store.setting(SERVER_KEY)?.is_some())
}

/// The server a connected store syncs with, and its device token.
pub(crate) fn credentials(store: &Store) -> Result<(String, String), SyncError> {
    if let Some(revocation) = revocation_of(store)? {
        return Err(SyncError::Revoked(revocation.message));
    }
    let server = store.setting(SERVER_KEY)?.ok_or(SyncError::NotConnected)?;
    let token = store.setting(TOKEN_KEY)?.ok_or(SyncError::NotConnected)?;
    Ok((server, token))
}

/// Connects a store to a server.
pub fn connect(store: &Store, server: &str, token: &str) -> Result<(), StoreError> {
    let server = server.trim().trim_end_matches('/');
    let valid = server.starts_with("http://") || server.starts_with("https://");
    if !valid {
        return Err(StoreError::InvalidInput(Message::new(
            format!("服务器地址“{server}”无效，应以 http:// 或 https:// 开头"),
            format!("Invalid server address \"{server}\": it must start with http:// or https://"),
        )));
    }
    if token.trim().is_empty() {
        return Err(StoreError::InvalidInput(Message::new(
            "请提供设备令牌",
            "A device token is required",
        )));
    }
    store.set_setting(SERVER_KEY, server)?;
    store.set_setting(TOKEN_KEY, token.trim())?;
    set_cursor(store, None)
}

/// Syncs until nothing is left to send or receive, reporting progress after each round.
/// `cancel` is checked between rounds.
pub fn sync(
    store: &Store,
    transport: &dyn Transport,
    page_bytes: u32,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&SyncProgress),
) -> Result<SyncReport, SyncError> {
    let _running = store.begin_sync().ok_or(SyncError::AlreadyRunning)?;
    if let Some(revocation) = revocation_of(store)? {
        // Erased and disconnected: it stays so until it enrolls again.
        return Err(SyncError::Revoked(revocation.message));
    }
    let server = store.setting(SERVER_KEY)?.ok_or(SyncError::NotConnected)?;
    let token = store.setting(TOKEN_KEY)?.ok_or(SyncError::NotConnected)?;
    let url = format!("{server}/api/v1/sync");
    let mut session = Session::new(Start {
        actor: store.actor(),
        page_bytes,
        state: state::load(store)?,
        unsynced: store.households_with_unsynced_changes()?,
        villages: store.villages(),
    });
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(SyncError::Cancelled);
        }
        while let Some(ask) = session.next_upload() {
            let changes = upload_changes(store, &ask)?;
            let effects = session.add_upload(ask, changes);
            apply(store, &mut session, effects)?;
        }
        let request = session.request();
        let body = wire::encode_request(&request)
            .map_err(|err| SyncError::BadResponse(err.to_string()))?;
        let sent = body.len() as u64;
        let answer = match transport.post(&url, &token, body) {
            Ok(answer) => answer,
            Err(TransportError::Status { status, body }) => {
                if let Some(message) = revocation(status, &body) {
                    return Err(revoked(store, message));
                }
                return Err(server_error(status, &body));
            }
            Err(err) => return Err(err.into()),
        };
        let response: SyncResponse =
            wire::decode(&answer).map_err(|err| SyncError::BadResponse(err.to_string()))?;
        let answer = session.answer(&request, sent, answer.len() as u64, response);
        apply(store, &mut session, answer.effects)?;
        for update in answer.updates {
            let applied = store_update(store, update)?;
            session.applied(applied);
        }
        let effects = session.updates_stored()?;
        apply(store, &mut session, effects)?;
        let Some(round) = session.end_round() else {
            continue;
        };
        progress(&round);
        if session.finished() {
            break;
        }
    }
    let conflicts = store
        .search(&SearchQuery::default())?
        .iter()
        .map(|h| h.conflict_count)
        .sum();
    Ok(session.report(conflicts, store.unsynced_changes()?))
}

/// The changes of a household the server lacks (all of them for a full history), or
/// `None` for a household held in quarantine that is no longer on the device.
fn upload_changes(store: &Store, ask: &UploadAsk) -> Result<Option<Vec<Vec<u8>>>, SyncError> {
    let since = if ask.full_history {
        Ok(Vec::new())
    } else {
        store.confirmed_heads(&ask.household)
    };
    match since.and_then(|since| store.changes_since(&ask.household, &since)) {
        Err(StoreError::HouseholdNotFound(_)) if ask.held => Ok(None),
        changes => Ok(Some(changes?)),
    }
}

/// Applies the session's effects to the store, in order.
fn apply(store: &Store, session: &mut Session, effects: Vec<Effect>) -> Result<(), SyncError> {
    for effect in effects {
        match effect {
            Effect::Confirm { household, heads } => store.confirm(&household, &heads)?,
            Effect::SaveRejection(rejection) => state::save_rejection(store, &rejection)?,
            Effect::ForgetRejection(household) => {
                state::forget(store, &household, Note::Rejection)?;
            }
            Effect::SaveQuarantine(note) => state::save_quarantine(store, &note)?,
            Effect::ForgetQuarantine(household) => {
                state::forget(store, &household, Note::Quarantine)?;
            }
            Effect::MarkFullHistory(household) => state::mark_full_history(store, &household)?,
            Effect::ForgetFullHistory(household) => {
                state::forget(store, &household, Note::FullHistory)?;
            }
            Effect::AdoptMemberKeySecret(secret) => store.adopt_member_key_secret(&secret)?,
            Effect::AssignVillages(villages) => store.assign_villages(&villages)?,
            Effect::SaveCursor(cursor) => set_cursor(store, cursor.as_ref())?,
            Effect::DropHouseholdsOutside { keep, spare } => {
                let dropped = store.drop_households_outside(&keep, &spare)?;
                let effects = session.dropped(dropped);
                apply(store, session, effects)?;
            }
        }
    }
    Ok(())
}

/// Merges one household the server sent.
fn store_update(store: &Store, update: Update) -> Result<Applied, SyncError> {
    let stored = match update.payload {
        Payload::Document(bytes) => store.apply_server_document(&update.household, &bytes),
        Payload::Changes(changes) => {
            let changes: Vec<Vec<u8>> = changes.into_iter().map(|c| c.into_vec()).collect();
            store.apply_server_changes(&update.household, &changes)
        }
    };
    match stored {
        Ok(_) => Ok(Applied::Stored),
        Err(StoreError::MissingDependencies(_)) => Ok(Applied::MissingHistory),
        Err(StoreError::VillageNotAssigned(_)) => Ok(Applied::NotAssigned),
        Err(err) => Err(refused_update(&update.household, err)),
    }
}

/// What a refused request means for the device, as `sync` reads it: a revoked device is
/// erased, anything else is the server's message.
pub(crate) fn refusal(store: &Store, status: u16, body: &[u8]) -> SyncError {
    match revocation(status, body) {
        Some(message) => revoked(store, message),
        None => server_error(status, body),
    }
}

/// Erases the store of a revoked device and remembers why, for the app to say so.
fn revoked(store: &Store, message: Message) -> SyncError {
    if let Err(err) = store.wipe() {
        return err.into();
    }
    let revocation = Revocation {
        at: crate::store::now(),
        message: message.clone(),
    };
    if let Err(err) = state::set_revocation(store, Some(&revocation)) {
        return err.into();
    }
    SyncError::Revoked(message)
}
