//! `DoorstepStore`, the object the phone UI holds: one per install, opened in the app's
//! private directory, safe to call from any thread.
//!
//! Each method parses what the UI passed into Doorstep's types, calls `client_core::Store`
//! once, and copies the answer into plain records. Rules live in `client-core`.

use crate::error::{DoorstepError, Result};
use crate::household::{
    self, Household, HouseholdQuery, HouseholdSummary, TodoItem, ValidationIssue,
};
use crate::sync::{SyncListener, SyncOptions, SyncTask};
use client_core::{SearchQuery, Store};
use schema::ids::{AreaCode, HouseholdId, RecordId};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Who uses this device, written into every household it edits.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceProfile {
    /// A name for the device, as the county staff will see it.
    pub device: String,
    pub volunteer: String,
}

/// A GPS point in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct GpsPoint {
    pub lat: f64,
    pub lon: f64,
}

/// One field to set, as a form page saves several at once.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldEdit {
    pub path: String,
    /// What the person typed; empty clears the field.
    pub value: String,
}

/// The device's store.
#[derive(Debug, uniffi::Object)]
pub struct DoorstepStore {
    store: Arc<Store>,
    /// The last sync started, so a second one waits its turn instead of racing the first
    /// for the download cursor.
    sync: Mutex<Option<Arc<SyncTask>>>,
}

#[uniffi::export]
impl DoorstepStore {
    /// Opens the store in `dir` (the app's private files directory), creating it on first
    /// use.
    #[uniffi::constructor]
    pub fn open(dir: String) -> Result<Arc<DoorstepStore>> {
        Ok(Arc::new(DoorstepStore {
            store: Arc::new(Store::open(Path::new(&dir))?),
            sync: Mutex::new(None),
        }))
    }

    /// Enrolls the device with the one-time code township staff gave the volunteer (typed,
    /// or the QR code's text, which names the server; `server_url` is needed otherwise).
    /// Blocks on the network: call it off the UI thread. Returns the device's id.
    pub fn enroll(&self, code: String, server_url: Option<String>) -> Result<String> {
        let enrolled = client_core::sync::enroll(&self.store, server_url.as_deref(), &code, None)?;
        Ok(enrolled.device_id)
    }

    /// Connects the device to a server with a device token an operator issued
    /// (`doorstep device add`); volunteers' phones `enroll` instead.
    pub fn init(&self, server_url: String, token: String) -> Result<()> {
        Ok(client_core::sync::connect(
            &self.store,
            &server_url,
            &token,
        )?)
    }

    /// Whether `init` has been done.
    pub fn is_connected(&self) -> Result<bool> {
        Ok(client_core::sync::is_connected(&self.store)?)
    }

    pub fn profile(&self) -> DeviceProfile {
        let profile = self.store.profile();
        DeviceProfile {
            device: profile.device,
            volunteer: profile.volunteer,
        }
    }

    pub fn set_profile(&self, profile: DeviceProfile) -> Result<()> {
        Ok(self.store.set_profile(client_core::DeviceProfile {
            device: profile.device,
            volunteer: profile.volunteer,
        })?)
    }

    /// The villages this device records in; empty means any.
    pub fn villages(&self) -> Vec<String> {
        self.store
            .villages()
            .iter()
            .map(|v| v.as_str().to_owned())
            .collect()
    }

    /// The household list, in village and household-number order.
    pub fn list_households(&self, query: HouseholdQuery) -> Result<Vec<HouseholdSummary>> {
        let village = query
            .village
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(AreaCode::parse_village)
            .transpose()?;
        let query = SearchQuery {
            text: query.text,
            village,
            limit: query.limit,
            offset: query.offset,
        };
        Ok(self
            .store
            .search(&query)?
            .into_iter()
            .map(HouseholdSummary::from)
            .collect())
    }

    /// Households whose names, ID numbers or household number contain `text`.
    pub fn search(&self, text: String) -> Result<Vec<HouseholdSummary>> {
        self.list_households(HouseholdQuery {
            text: Some(text),
            ..HouseholdQuery::default()
        })
    }

    /// Opens a household: fields, members, visits, validation issues and conflicts.
    pub fn household(&self, id: String) -> Result<Household> {
        let id = HouseholdId::parse(&id)?;
        Ok(self.store.household(&id)?.into())
    }

    /// The to-do list: every open visit task on the device, by village and household.
    pub fn todo(&self) -> Result<Vec<TodoItem>> {
        Ok(self.store.todo()?.into_iter().map(Into::into).collect())
    }

    /// Marks a visit task checked with what the visit found (a durable edit, uploaded on
    /// the next sync); returns the household as it stands now.
    pub fn check_task(&self, household: String, task: String, note: String) -> Result<Household> {
        let household = HouseholdId::parse(&household)?;
        Ok(self.store.check_task(&household, &task, &note)?.into())
    }

    /// Creates a household in one of the device's villages; returns its id. Without a
    /// registry number it gets a provisional one.
    pub fn create_household(&self, village: String, number: Option<String>) -> Result<String> {
        let village = AreaCode::parse_village(village.trim())?;
        Ok(self
            .store
            .create_household(&village, number.as_deref())?
            .to_string())
    }

    /// Adds a member by ID number (or returns the member already recorded with it);
    /// returns the member's key.
    pub fn add_member(
        &self,
        household: String,
        name: String,
        id_number: Option<String>,
    ) -> Result<String> {
        let household = HouseholdId::parse(&household)?;
        Ok(self
            .store
            .add_member(&household, &name, id_number.as_deref())?
            .to_string())
    }

    /// Sets one field from what the person typed (empty clears it). The edit is durable
    /// when this returns; the result is the validation issues of the edited record.
    pub fn set_field(
        &self,
        household: String,
        path: String,
        value: String,
    ) -> Result<Vec<ValidationIssue>> {
        let household = HouseholdId::parse(&household)?;
        Ok(household::issues(
            self.store.set_field(&household, &path, &value)?,
        ))
    }

    /// Sets several fields as one durable change.
    pub fn set_fields(
        &self,
        household: String,
        edits: Vec<FieldEdit>,
    ) -> Result<Vec<ValidationIssue>> {
        let household = HouseholdId::parse(&household)?;
        let edits: Vec<(&str, &str)> = edits
            .iter()
            .map(|e| (e.path.as_str(), e.value.as_str()))
            .collect();
        Ok(household::issues(
            self.store.set_fields(&household, &edits)?,
        ))
    }

    /// Starts a visit; edits until it finishes are tied to it. Returns the visit's id.
    pub fn start_visit(&self, household: String) -> Result<String> {
        let household = HouseholdId::parse(&household)?;
        Ok(self.store.start_visit(&household)?.to_string())
    }

    /// Finishes a visit with an outcome (see `visit_outcomes()`), notes and a GPS point.
    pub fn finish_visit(
        &self,
        household: String,
        visit: String,
        outcome: String,
        notes: Option<String>,
        gps: Option<GpsPoint>,
    ) -> Result<Vec<ValidationIssue>> {
        let household = HouseholdId::parse(&household)?;
        let visit = RecordId::parse(&visit)?;
        let gps = gps.map(|p| client_core::GpsPoint {
            lat: p.lat,
            lon: p.lon,
        });
        Ok(household::issues(self.store.finish_visit(
            &household,
            &visit,
            &outcome,
            notes.as_deref(),
            gps,
        )?))
    }

    /// Changes recorded here that the server has not confirmed yet.
    pub fn unsynced_changes(&self) -> Result<i64> {
        Ok(self.store.unsynced_changes()?)
    }

    /// Starts a sync on a thread of its own and returns at once. Photos attached here
    /// upload after the data, in the same task. The listener hears every
    /// round and the end; the task cancels or waits. Refused while another sync of this
    /// store is running.
    pub fn start_sync(
        &self,
        options: SyncOptions,
        listener: Arc<dyn SyncListener>,
    ) -> Result<Arc<SyncTask>> {
        let mut running = self
            .sync
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if running.as_ref().is_some_and(|task| !task.is_finished()) {
            return Err(DoorstepError::sync_in_progress());
        }
        let task = SyncTask::start(Arc::clone(&self.store), options, listener)?;
        *running = Some(Arc::clone(&task));
        Ok(task)
    }
}

impl DoorstepStore {
    /// The device store this object wraps, for the methods defined beside their records.
    pub(crate) fn core(&self) -> &Store {
        &self.store
    }
}
