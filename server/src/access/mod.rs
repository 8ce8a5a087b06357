//! Access: who may do what, and what they may see (layer 2).
//!
//! Staff accounts, roles, passwords, sessions, lockout and the second factor; device tokens;
//! enrollment codes and the device list; the audit log; and privacy, what a reader may see of
//! sensitive fields. Modules here may use the base (`clock`, `config`, `parallel`) and
//! `storage` (the database, the vault, the areas), never decisions, reports, ingest, `http` or
//! `cli`.

pub mod accounts;
pub mod audit;
pub mod device_tokens;
pub mod devices;
pub mod enrollment;
pub mod enrollment_code;
pub mod passwords;
pub mod privacy;
pub mod roles;
pub mod secrets;
pub mod sessions;
pub mod totp;
