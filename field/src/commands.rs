//! Runs one command against the store: parses the typed arguments into Doorstep's types,
//! calls the store, and hands the result to `render` or to JSON.

use crate::args::{
    Cli, Command, HouseholdAction, MemberAction, PhotoAction, RecordAction, TaskAction,
};
use crate::failure::Failure;
use crate::{field_list, generate, photo, render, sync};
use client_core::{DeviceProfile, GpsPoint, SearchQuery, Store};
use schema::Message;
use schema::codes::VISIT_OUTCOME;
use schema::fields::FieldPath;
use schema::ids::{AreaCode, HouseholdId, MemberKey};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

type Outcome = Result<(), Failure>;

/// Runs the command; normal output goes to `out`, validation issues to `err`.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
    let Cli { store, command } = cli;
    // Opened by each command that needs it: the catalog is documentation and needs none.
    let store = || open(store.as_deref());
    match command {
        Command::Fields => field_list::write(out)?,
        Command::Household {
            action: HouseholdAction::New { village, number },
        } => {
            let village = AreaCode::parse_village(&village)?;
            let id = store()?.create_household(&village, number.as_deref())?;
            writeln!(out, "{id}")?;
        }
        Command::Member {
            action:
                MemberAction::Add {
                    household,
                    name,
                    id_number,
                },
        } => {
            let household = HouseholdId::parse(&household)?;
            let key = store()?.add_member(&household, &name, id_number.as_deref())?;
            writeln!(out, "{key}")?;
        }
        Command::Set {
            household,
            path,
            value,
        } => set(&store()?, &household, &path, &value, err)?,
        Command::Visit {
            household,
            outcome,
            note,
            gps,
        } => {
            let household = HouseholdId::parse(&household)?;
            let gps = gps.as_deref().map(parse_gps).transpose()?;
            check_outcome(&outcome)?;
            let store = store()?;
            let visit = store.start_visit(&household)?;
            let issues = store.finish_visit(&household, &visit, &outcome, note.as_deref(), gps)?;
            writeln!(out, "{visit}")?;
            render::saved_with_issues(err, &issues)?;
        }
        Command::Show { household, json } => {
            let detail = store()?.household(&HouseholdId::parse(&household)?)?;
            if json {
                write_json(out, &detail)?;
            } else {
                render::household(out, &detail)?;
            }
        }
        Command::Tasks { json } => {
            let items = store()?.todo()?;
            if json {
                write_json(out, &items)?;
            } else if items.is_empty() {
                writeln!(err, "没有待核实的任务 / No open tasks")?;
            } else {
                render::todo(out, &items)?;
            }
        }
        Command::Task {
            action:
                TaskAction::Check {
                    household,
                    task,
                    note,
                },
        } => {
            let household = HouseholdId::parse(&household)?;
            store()?.check_task(&household, &task, &note)?;
            writeln!(out, "已标记为已核实 / Marked checked: tasks.{task}")?;
        }
        Command::List {
            search,
            village,
            json,
        } => {
            let query = SearchQuery {
                text: search,
                village: village
                    .as_deref()
                    .map(AreaCode::parse_village)
                    .transpose()?,
                ..SearchQuery::default()
            };
            let households = store()?.search(&query)?;
            if json {
                write_json(out, &households)?;
            } else if households.is_empty() {
                writeln!(err, "没有找到户 / No households found")?;
            } else {
                render::household_list(out, &households)?;
            }
        }
        Command::Profile { device, volunteer } => {
            let store = store()?;
            let current = store.profile();
            if device.is_some() || volunteer.is_some() {
                store.set_profile(DeviceProfile {
                    device: device.unwrap_or(current.device),
                    volunteer: volunteer.unwrap_or(current.volunteer),
                })?;
            }
            render::profile(out, &store.profile())?;
        }
        Command::Status { json } => {
            let store = store()?;
            if let Some(revocation) = client_core::sync::revocation_of(&store)? {
                writeln!(err, "{}\n{}", revocation.message.zh, revocation.message.en)?;
            }
            let status = render::Status {
                actor: store.actor(),
                profile: store.profile(),
                villages: store.villages(),
                households: store.household_ids()?.len(),
                unsynced_changes: store.unsynced_changes()?,
            };
            if json {
                write_json(out, &status)?;
            } else {
                render::status(out, &status)?;
            }
        }
        Command::Init { server, token } => {
            let store = store()?;
            client_core::sync::connect(&store, &server, &token)?;
            writeln!(
                err,
                "已连接 Connected: {}",
                server.trim().trim_end_matches('/')
            )?;
        }
        Command::Enroll {
            code,
            server,
            device_name,
        } => {
            let store = store()?;
            let enrollment =
                sync::enroll(&store, &code, server.as_deref(), device_name.as_deref())?;
            writeln!(out, "{}", enrollment.device_id)?;
            writeln!(
                err,
                "已登记 Enrolled: {} · {} · {}",
                enrollment.server,
                enrollment.volunteer,
                enrollment.villages.join(", ")
            )?;
        }
        Command::Sync { json, page_bytes } => {
            let store = store()?;
            let report = sync::run(&store, page_bytes, err)?;
            // The data is on the server now; photos follow, so pictures never hold it up.
            let photos = sync::upload_photos(&store, err);
            if json {
                let mut value = serde_json::to_value(&report)?;
                if let (Some(object), Ok(photos)) = (value.as_object_mut(), &photos) {
                    object.insert("photos".to_owned(), serde_json::to_value(photos)?);
                }
                write_json(out, &value)?;
            } else {
                render::sync_report(out, &report)?;
                if let Ok(photos) = &photos {
                    render::photo_upload(out, photos)?;
                }
            }
            photos?;
        }
        Command::Generate {
            village,
            households,
            first,
        } => {
            let village = AreaCode::parse_village(&village)?;
            let store = store()?;
            for n in first..first + households {
                let household = generate::household(&store, &village, n)?;
                // Printed only once the household is durable: a load generator or a crash
                // test may count on every printed id being saved.
                writeln!(out, "{household}")?;
                out.flush()?;
            }
        }
        Command::Training {
            action: RecordAction::Add { household, member },
        } => {
            let (household, member) = (HouseholdId::parse(&household)?, MemberKey::parse(&member)?);
            writeln!(out, "{}", store()?.add_training(&household, &member)?)?;
        }
        Command::Subsidy {
            action: RecordAction::Add { household, member },
        } => {
            let (household, member) = (HouseholdId::parse(&household)?, MemberKey::parse(&member)?);
            writeln!(out, "{}", store()?.add_subsidy(&household, &member)?)?;
        }
        Command::Photo {
            action:
                PhotoAction::Add {
                    household,
                    file,
                    kind,
                    member,
                    visit,
                    training,
                    subsidy,
                    long_side,
                },
        } => {
            let record = photo::Record {
                member: member.as_deref(),
                visit: visit.as_deref(),
                training: training.as_deref(),
                subsidy: subsidy.as_deref(),
            };
            let attached = photo::add(&store()?, &household, &file, &kind, &record, long_side)?;
            writeln!(out, "{}", attached.hash)?;
            writeln!(
                err,
                "已附照片 Attached: {} B, {}（上传于下次同步 uploaded at the next sync）",
                attached.bytes.unwrap_or_default(),
                attached.of.as_deref().unwrap_or("household"),
            )?;
        }
        Command::Photo {
            action: PhotoAction::List { household, json },
        } => {
            let photos = store()?.photos(&HouseholdId::parse(&household)?)?;
            if json {
                write_json(out, &photos)?;
            } else if photos.is_empty() {
                writeln!(err, "该户没有照片 / The household has no photos")?;
            } else {
                photo::list(out, &photos)?;
            }
        }
        Command::Photo {
            action:
                PhotoAction::Get {
                    hash,
                    out: file,
                    full,
                },
        } => {
            let written = photo::get(&store()?, &hash, &file, full)?;
            writeln!(err, "已写入 Written: {} ({written} B)", file.display())?;
        }
    }
    Ok(())
}

fn open(dir: Option<&Path>) -> Result<Store, Failure> {
    let dir = dir.ok_or_else(|| {
        Failure::Input(Message::new(
            "请用 --store 目录 或环境变量 DOORSTEP_STORE 指定数据目录",
            "Name the store directory with --store DIR or the DOORSTEP_STORE environment variable",
        ))
    })?;
    Ok(Store::open(dir)?)
}

fn set(store: &Store, household: &str, path: &str, value: &str, err: &mut dyn Write) -> Outcome {
    let household = HouseholdId::parse(household)?;
    // The store parses the path too; parsing here first lets a wrong path point the
    // person at the list of every field.
    FieldPath::parse(path).map_err(|invalid| {
        let message = invalid.message;
        Failure::Input(Message::new(
            format!(
                "{}\n（运行 doorstep-field fields 查看所有字段路径）",
                message.zh
            ),
            format!(
                "{}\n(run `doorstep-field fields` to list every field path)",
                message.en
            ),
        ))
    })?;
    let issues = store.set_field(&household, path, value)?;
    render::saved_with_issues(err, &issues)?;
    Ok(())
}

/// Refuses an unknown outcome before the visit is started, so a typo leaves no
/// half-recorded visit behind.
fn check_outcome(outcome: &str) -> Outcome {
    if VISIT_OUTCOME.contains(outcome) {
        return Ok(());
    }
    let choices = |label: fn(&schema::codes::Code) -> &str| {
        VISIT_OUTCOME
            .codes
            .iter()
            .map(|c| format!("{} ({})", c.code, label(c)))
            .collect::<Vec<_>>()
    };
    Err(Failure::Input(Message::new(
        format!(
            "走访结果“{outcome}”无效，可选：{}",
            choices(|c| c.zh).join("、")
        ),
        format!(
            "Unknown visit outcome \"{outcome}\"; choose one of: {}",
            choices(|c| c.en).join(", ")
        ),
    )))
}

/// Reads `LAT,LON` in degrees. Whether the point lies in range is the store's rule.
fn parse_gps(input: &str) -> Result<GpsPoint, Failure> {
    let number = |text: &str| text.trim().parse::<f64>().ok().filter(|n| n.is_finite());
    let point = input.split_once([',', '，']).and_then(|(lat, lon)| {
        Some(GpsPoint {
            lat: number(lat)?,
            lon: number(lon)?,
        })
    });
    point.ok_or_else(|| {
        Failure::Input(Message::new(
            format!("位置“{input}”格式不对：应为 纬度,经度，如 37.95,110.98"),
            format!("Malformed GPS point \"{input}\": expected LAT,LON, e.g. 37.95,110.98"),
        ))
    })
}

fn write_json(out: &mut dyn Write, value: &impl Serialize) -> Outcome {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
