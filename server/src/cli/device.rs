//! `doorstep device …`: devices for operators with access to the database. Staff use the API
//! (`/api/v1/enrollments`, `/api/v1/devices`); these do the same, audited as `operator`.

use super::database_failed;
use crate::access::devices::{self, By, DeviceError, DeviceInfo};
use crate::access::enrollment::{self, NewCode};
use crate::access::enrollment_code;
use crate::clock::Clock;
use crate::storage::db::Db;
use clap::Subcommand;
use schema::Message;
use schema::ids::AreaCode;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Register a device for one or more villages and print its token. The token is not
    /// bound to a phone; `enroll` is the way for volunteers' phones.
    Add {
        #[arg(long = "village", required = true)]
        villages: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Make a one-time enrollment code for a volunteer and print it; the phone redeems it
    /// with `doorstep-field enroll CODE` or by scanning the QR code.
    Enroll {
        /// The volunteer's name.
        #[arg(long)]
        volunteer: String,
        #[arg(long = "village", required = true)]
        villages: Vec<String>,
        /// Hours until the code expires.
        #[arg(long, default_value_t = enrollment::DEFAULT_VALID_HOURS)]
        hours: i64,
        /// The address phones reach the server at, written into the QR code with the code.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Write the QR code as a PNG image here.
        #[arg(long, value_name = "FILE")]
        qr_png: Option<PathBuf>,
        /// Write the QR code as an SVG image here.
        #[arg(long, value_name = "FILE")]
        qr_svg: Option<PathBuf>,
    },
    /// Revoke a device: its token stops working at once, and the phone erases its survey
    /// data at its next contact unless --keep-data.
    Revoke {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// Only refuse the device; its phone keeps its data.
        #[arg(long)]
        keep_data: bool,
    },
    /// Give a device a new set of villages; the phone follows at its next sync.
    Villages {
        id: String,
        #[arg(long = "village", required = true)]
        villages: Vec<String>,
    },
    /// List the devices with a village in an area, one a line.
    List {
        #[arg(long)]
        area: String,
    },
}

fn villages(codes: &[String]) -> Result<Vec<AreaCode>, String> {
    codes
        .iter()
        .map(|code| AreaCode::parse_village(code.trim()).map_err(|err| err.message.to_string()))
        .collect()
}

fn failed(err: DeviceError) -> String {
    match err {
        DeviceError::Invalid(_, message)
        | DeviceError::NotFound(message)
        | DeviceError::Conflict(message) => message.to_string(),
        DeviceError::Database(err) => database_failed(err),
    }
}

fn line(device: &DeviceInfo) -> String {
    let state = match (device.revoked_at, device.wipe_requested) {
        (None, _) => "active".to_owned(),
        (Some(at), true) => format!("revoked at {at}, wipe requested"),
        (Some(at), false) => format!("revoked at {at}"),
    };
    format!(
        "{}\t{}\t{}\t{}\t{state}",
        device.id,
        device.name,
        device.volunteer,
        device.villages.join(",")
    )
}

fn write(path: &PathBuf, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|err| {
        Message::new(
            format!("无法写入文件 {}：{err}", path.display()),
            format!("cannot write {}: {err}", path.display()),
        )
        .to_string()
    })
}

pub async fn run(db: &Db, clock: &Clock, command: DeviceCommand) -> Result<(), String> {
    match command {
        DeviceCommand::Add {
            villages: codes,
            name,
        } => {
            let villages = devices::checked_villages(db, &villages(&codes)?)
                .await
                .map_err(failed)?;
            let name = if name.is_empty() {
                format!("device for {}", villages[0])
            } else {
                name
            };
            let (_, token) = crate::access::device_tokens::add_device(db, clock, &name, &villages)
                .await
                .map_err(|err| {
                    Message::new(
                        format!("无法添加设备：{err}"),
                        format!("cannot add the device: {err}"),
                    )
                    .to_string()
                })?;
            println!("{token}");
        }
        DeviceCommand::Enroll {
            volunteer,
            villages: codes,
            hours,
            server,
            qr_png,
            qr_svg,
        } => {
            let new = NewCode {
                volunteer,
                villages: villages(&codes)?,
                valid_hours: Some(hours),
            };
            let issued = enrollment::create_code(db, clock, new, &By::operator())
                .await
                .map_err(failed)?;
            let payload = enrollment_code::payload(server.as_deref(), &issued.code);
            if let Some(path) = &qr_png {
                write(path, &enrollment_code::qr_png(&payload))?;
            }
            if let Some(path) = &qr_svg {
                write(path, enrollment_code::qr_svg(&payload).as_bytes())?;
            }
            // The code alone on standard output, for scripts; the rest is for the operator.
            println!("{}", issued.code);
            let expires = jiff::Timestamp::from_second(issued.expires_at)
                .map(|at| at.to_string())
                .unwrap_or_else(|_| issued.expires_at.to_string());
            eprintln!(
                "注册码 enrollment code for {} ({}), expires {expires}\nQR: {payload}",
                issued.volunteer,
                issued.villages.join(", ")
            );
        }
        DeviceCommand::Revoke {
            id,
            reason,
            keep_data,
        } => {
            let device = devices::revoke(db, clock, &id, !keep_data, &reason, &By::operator())
                .await
                .map_err(failed)?;
            println!("{}", line(&device));
        }
        DeviceCommand::Villages {
            id,
            villages: codes,
        } => {
            let device = devices::set_villages(db, clock, &id, &villages(&codes)?, &By::operator())
                .await
                .map_err(failed)?;
            println!("{}", line(&device));
        }
        DeviceCommand::List { area } => {
            let area = AreaCode::parse(&area).map_err(|err| err.message.to_string())?;
            for device in devices::list(db, clock, &area)
                .await
                .map_err(database_failed)?
            {
                println!("{}", line(&device));
            }
        }
    }
    Ok(())
}
