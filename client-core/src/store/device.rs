//! Who this install is and what it keeps for other layers: its actor, profile, villages,
//! member-key secret and settings, and erasing all of it.

use super::{DeviceProfile, Store};
use crate::db;
use crate::error::{Error, Result};
use automerge::ActorId;
use schema::Message;
use schema::ids::{AreaCode, MemberKeySecret};
use schema::layout::ActorInfo;

impl Store {
    /// This install's Automerge actor, in hex.
    pub fn actor(&self) -> String {
        self.lock().actor.to_hex_string()
    }

    pub fn profile(&self) -> DeviceProfile {
        self.lock().profile.clone()
    }

    pub fn set_profile(&self, profile: DeviceProfile) -> Result<()> {
        let mut inner = self.lock();
        db::set_meta(&inner.conn, "device", &profile.device)?;
        db::set_meta(&inner.conn, "volunteer", &profile.volunteer)?;
        inner.profile = profile;
        Ok(())
    }

    /// The villages this device records in. Empty means not yet assigned: any village.
    pub fn villages(&self) -> Vec<AreaCode> {
        self.lock().villages.clone()
    }

    pub fn assign_villages(&self, villages: &[AreaCode]) -> Result<()> {
        let mut inner = self.lock();
        let joined: Vec<&str> = villages.iter().map(AreaCode::as_str).collect();
        db::set_meta(&inner.conn, "villages", &joined.join(","))?;
        inner.villages = villages.to_vec();
        Ok(())
    }

    /// Sets the deployment's member-key secret (handed out by the server).
    pub fn set_member_key_secret(&self, secret: MemberKeySecret) -> Result<()> {
        let mut inner = self.lock();
        db::set_meta(
            &inner.conn,
            "member_key_secret",
            &hex::encode(secret.as_bytes()),
        )?;
        inner.member_secret = secret;
        Ok(())
    }

    /// Takes the deployment's member-key secret (hex) the server sent, unless this store
    /// already has one: members already recorded keep their keys, and so do later ones.
    pub fn adopt_member_key_secret(&self, hex_text: &str) -> Result<()> {
        if db::get_meta(&self.lock().conn, "member_key_secret")?.is_some() {
            return Ok(());
        }
        self.set_member_key_secret(decode_secret(hex_text)?)
    }

    /// A value this store keeps for other layers (the sync client's server and token).
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(db::get_meta(&self.lock().conn, &format!("setting.{key}"))?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        Ok(db::set_meta(
            &self.lock().conn,
            &format!("setting.{key}"),
            value,
        )?)
    }

    pub fn remove_setting(&self, key: &str) -> Result<()> {
        self.lock().conn.execute(
            "DELETE FROM meta WHERE key = ?1",
            [format!("setting.{key}")],
        )?;
        Ok(())
    }

    /// The store's database, for the sync client's own tables (`sync_state`,
    /// `sync_household`), under the store's lock.
    pub(crate) fn with_connection<T>(
        &self,
        work: impl FnOnce(&mut rusqlite::Connection) -> Result<T>,
    ) -> Result<T> {
        work(&mut self.lock().conn)
    }

    /// Erases everything this device holds (households, changes, the index, the profile,
    /// villages, settings, sync state) and gives it a fresh actor, as for a new install: what a revoked
    /// device does. The file is rebuilt and its write-ahead log emptied, so the erased data
    /// does not linger in free pages.
    pub fn wipe(&self) -> Result<()> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let actor = ActorId::random();
        let tx = inner.conn.transaction()?;
        tx.execute_batch(
            "DELETE FROM open_visit;
             DELETE FROM photo_upload;
             DELETE FROM photo;
             DELETE FROM document_change;
             DELETE FROM household_index;
             DELETE FROM document;
             DELETE FROM sync_household;
             DELETE FROM sync_state;
             DELETE FROM meta;",
        )?;
        db::set_meta(&tx, "actor", &actor.to_hex_string())?;
        tx.commit()?;
        inner.cache.clear();
        inner.profile = DeviceProfile {
            device: format!("device-{}", &actor.to_hex_string()[..8]),
            volunteer: String::new(),
        };
        inner.actor = actor;
        inner.villages.clear();
        inner.member_secret = MemberKeySecret::development();
        inner.conn.execute_batch("VACUUM")?;
        inner
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

impl DeviceProfile {
    pub(super) fn actor_info(&self) -> ActorInfo {
        ActorInfo {
            device: Some(self.device.clone()),
            volunteer: Some(self.volunteer.clone()).filter(|v| !v.is_empty()),
            staff: None,
        }
    }
}

pub(super) fn decode_secret(hex_text: &str) -> Result<MemberKeySecret> {
    let bytes = hex::decode(hex_text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    bytes.map(MemberKeySecret::from_bytes).ok_or_else(|| {
        Error::InvalidInput(Message::new(
            "成员密钥损坏",
            "The member key secret is damaged",
        ))
    })
}
