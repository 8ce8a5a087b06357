//! Phones join with a one-time enrollment code, leave when staff revoke them, and move
//! between villages when staff reassign them.
//!
//! A code is 16 Crockford base32 characters (80 random bits), shown as
//! `XXXX-XXXX-XXXX-XXXX` and in a QR code: short enough to type on a phone, far too many to
//! guess within its lifetime. Only its hash is stored. It works once, until it expires
//! (72 hours unless staff choose otherwise), and redeeming it binds the new device token to
//! the phone's Automerge actor.
//!
//! Every act here is audited in the transaction that does it, and every refused redemption
//! on its own, so the log says who enrolled, revoked or moved which device, and who tried a
//! spent code.

use crate::accounts::Staff;
use crate::audit::{self, Entry, Outcome};
use crate::auth::{self, FORMER_VILLAGE_DAYS};
use crate::storage::db::Db;
use crate::storage::{areas, db};
use schema::Message;
use schema::ids::AreaCode;
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

/// How long a code works unless its maker says otherwise.
pub const DEFAULT_VALID_HOURS: i64 = 72;
/// The longest a code may work: an unused code is a standing invitation.
pub const MAX_VALID_HOURS: i64 = 14 * 24;
/// Characters in a code, without the hyphens.
pub const CODE_LENGTH: usize = 16;
/// The most villages one device may cover: a township's worth.
pub const MAX_VILLAGES: usize = 100;
/// The scheme of the text a QR code carries.
pub const PAYLOAD_PREFIX: &str = "doorstep:enroll?";

/// Crockford's base32: no I, L, O or U, so nothing reads as another character.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const MAX_NAME_CHARS: usize = 100;

/// Who does something, as the audit log names them.
#[derive(Debug, Clone)]
pub struct By {
    /// `staff:<username>`, or `operator` at the command line.
    pub actor: String,
    pub role: String,
    /// What `enrollment_code.created_by` keeps: the staff id, or `operator`.
    pub id: String,
    /// The network address, or `cli`.
    pub client: String,
}

impl By {
    pub fn staff(staff: &Staff, client: &str) -> By {
        By {
            actor: staff.actor(),
            role: staff.role.as_str().to_owned(),
            id: staff.id.clone(),
            client: client.to_owned(),
        }
    }

    /// Someone with the database, at the server's command line.
    pub fn operator() -> By {
        By {
            actor: "operator".to_owned(),
            role: "operator".to_owned(),
            id: "operator".to_owned(),
            client: "cli".to_owned(),
        }
    }

    fn entry(&self, action: &'static str, outcome: Outcome) -> Entry {
        Entry::new(action, outcome)
            .by(&self.actor, &self.role)
            .from(&self.client)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The request cannot be taken as it is.
    #[error("{}", .0.en)]
    Invalid(Message),
    #[error("{}", .0.en)]
    NotFound(Message),
    /// The device is in a state that does not allow it (revoked).
    #[error("{}", .0.en)]
    Conflict(Message),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

// ─── Codes ────────────────────────────────────────────────────────────────────────────────

/// A fresh code, grouped for reading: `XXXX-XXXX-XXXX-XXXX`.
pub fn generate_code() -> String {
    let mut bytes = [0u8; CODE_LENGTH * 5 / 8];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let mut bits: u128 = 0;
    for byte in bytes {
        bits = (bits << 8) | u128::from(byte);
    }
    let plain: String = (0..CODE_LENGTH)
        .rev()
        .map(|n| char::from(ALPHABET[((bits >> (n * 5)) & 31) as usize]))
        .collect();
    group(&plain)
}

fn group(plain: &str) -> String {
    plain
        .as_bytes()
        .chunks(4)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

/// A code as typed, in its canonical form (16 characters, no hyphens), or `None` when it
/// cannot be one. Case, spaces and hyphens do not matter, and the letters people confuse
/// with digits (O, I, L) read as those digits, as Crockford intends.
pub fn normalize_code(input: &str) -> Option<String> {
    let mut code = String::with_capacity(CODE_LENGTH);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_LENGTH).then_some(code)
}

/// The grouped form of a canonical code.
pub fn display_code(canonical: &str) -> String {
    group(canonical)
}

fn code_hash(canonical: &str) -> String {
    blake3::hash(canonical.as_bytes()).to_hex().to_string()
}

/// What a QR code carries: `doorstep:enroll?server=<url>&code=<code>`, so one scan sets
/// up the phone; or the bare code when the server's address is not known.
pub fn payload(server: Option<&str>, code: &str) -> String {
    match server.map(str::trim).filter(|s| !s.is_empty()) {
        Some(server) => format!(
            "{PAYLOAD_PREFIX}server={}&code={code}",
            percent_encode(server.trim_end_matches('/'))
        ),
        None => code.to_owned(),
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn qr(payload: &str) -> qrcode::QrCode {
    // Medium error correction survives a scuffed print-out; the payload is short, so the
    // symbol stays small. A server address too long for a QR code leaves the bare code,
    // which always fits: the phone then asks for the address.
    let encode = |text: &str| {
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
    };
    encode(payload).unwrap_or_else(|_| {
        let code = payload.rsplit("code=").next().unwrap_or(payload);
        encode(code).unwrap_or_else(|_| {
            qrcode::QrCode::new(b"doorstep").unwrap_or_else(|_| unreachable!("8 bytes fit"))
        })
    })
}

/// The payload as an SVG QR code.
pub fn qr_svg(payload: &str) -> String {
    qr(payload)
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build()
}

/// The payload as a PNG QR code.
pub fn qr_png(payload: &str) -> Vec<u8> {
    let image = qr(payload)
        .render::<image::Luma<u8>>()
        .min_dimensions(256, 256)
        .build();
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encoding a PNG in memory cannot fail");
    png
}

// ─── Creating and redeeming ───────────────────────────────────────────────────────────────

/// A code to make.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub volunteer: String,
    pub villages: Vec<AreaCode>,
    /// Hours until it expires; [`DEFAULT_VALID_HOURS`] when `None`.
    pub valid_hours: Option<i64>,
}

/// A code just made: the only time it is seen in the clear.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub id: String,
    /// `XXXX-XXXX-XXXX-XXXX`.
    pub code: String,
    pub volunteer: String,
    pub villages: Vec<String>,
    pub expires_at: i64,
}

/// A stored code, looked up by the code itself.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub id: String,
    pub volunteer: String,
    pub villages: Vec<AreaCode>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl StoredCode {
    /// Whether it can still be redeemed.
    pub fn usable(&self, now: i64) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

fn clean_name(name: &str, what: Message) -> Result<String, DeviceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(DeviceError::Invalid(what));
    }
    Ok(name.to_owned())
}

/// Checks a list of villages: at least one, each a village, each in the area list.
pub async fn checked_villages(
    db: &Db,
    villages: &[AreaCode],
) -> Result<Vec<AreaCode>, DeviceError> {
    let mut villages = villages.to_vec();
    villages.sort();
    villages.dedup();
    if villages.is_empty() || villages.len() > MAX_VILLAGES {
        return Err(DeviceError::Invalid(Message::new(
            format!("请指定 1 到 {MAX_VILLAGES} 个村"),
            format!("Name between 1 and {MAX_VILLAGES} villages"),
        )));
    }
    if let Some(code) = villages
        .iter()
        .find(|v| v.level() != schema::ids::AreaLevel::Village)
    {
        return Err(DeviceError::Invalid(Message::new(
            format!("“{code}”不是村级区划代码（12 位）"),
            format!("\"{code}\" is not a village code (12 digits)"),
        )));
    }
    let unknown = areas::unknown(db, &villages).await?;
    if !unknown.is_empty() {
        return Err(DeviceError::Invalid(areas::unknown_message(&unknown)));
    }
    Ok(villages)
}

fn join(villages: &[AreaCode]) -> String {
    villages
        .iter()
        .map(AreaCode::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn split(villages: &str) -> Vec<AreaCode> {
    villages
        .split(',')
        .filter_map(|code| AreaCode::parse_village(code).ok())
        .collect()
}

/// Makes a one-time code for a volunteer and their villages.
pub async fn create_code(db: &Db, new: NewCode, by: &By) -> Result<Issued, DeviceError> {
    let volunteer = clean_name(
        &new.volunteer,
        Message::new(
            format!("请填写志愿者姓名（最多 {MAX_NAME_CHARS} 字）"),
            format!("The volunteer's name is required (at most {MAX_NAME_CHARS} characters)"),
        ),
    )?;
    let villages = checked_villages(db, &new.villages).await?;
    let hours = new.valid_hours.unwrap_or(DEFAULT_VALID_HOURS);
    if !(1..=MAX_VALID_HOURS).contains(&hours) {
        return Err(DeviceError::Invalid(Message::new(
            format!("有效期应为 1 到 {MAX_VALID_HOURS} 小时"),
            format!("A code may be valid for 1 to {MAX_VALID_HOURS} hours"),
        )));
    }
    let code = generate_code();
    let canonical = normalize_code(&code).expect("a generated code is canonical");
    let id = auth::random_hex(8);
    let created_at = now();
    let expires_at = created_at + hours * 3600;
    let mut write = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO enrollment_code
             (id, code_hash, volunteer, villages, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(code_hash(&canonical))
    .bind(&volunteer)
    .bind(join(&villages))
    .bind(&by.id)
    .bind(created_at)
    .bind(expires_at)
    .execute(&mut *write.tx)
    .await?;
    let entry = by
        .entry("device.enroll.create", Outcome::Ok)
        .on(&id)
        .saying(format!(
            "volunteer {volunteer}; villages {}; expires at {expires_at}",
            join(&villages)
        ));
    audit::record_in(&mut write.tx, entry).await?;
    write.commit().await?;
    Ok(Issued {
        id,
        code,
        volunteer,
        villages: villages.iter().map(ToString::to_string).collect(),
        expires_at,
    })
}

/// A code's row, by the code as typed.
pub async fn find_code(db: &Db, code: &str) -> Result<Option<StoredCode>, sqlx::Error> {
    let Some(canonical) = normalize_code(code) else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT id, volunteer, villages, expires_at, used_at FROM enrollment_code
         WHERE code_hash = $1",
    )
    .bind(code_hash(&canonical))
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(StoredCode {
            id: row.try_get("id")?,
            volunteer: row.try_get("volunteer")?,
            villages: split(&row.try_get::<String, _>("villages")?),
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
        })
    })
    .transpose()
}

/// What the phone asks with.
#[derive(Debug, Clone)]
pub struct Redeem<'a> {
    pub code: &'a str,
    /// The phone's Automerge actor, hex.
    pub actor: &'a str,
    pub device_name: Option<&'a str>,
    /// The phone's network address, for the audit log.
    pub client: &'a str,
}

/// A device just enrolled; its token is shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolled {
    pub device_id: String,
    pub device_token: String,
    pub volunteer: String,
    pub villages: Vec<String>,
}

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not 16 base32 characters, or the actor is not hex.
    Malformed,
    Unknown,
    Expired,
    Used,
    /// The phone's actor already belongs to a live device.
    ActorInUse,
}

impl Refusal {
    fn detail(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed code or actor",
            Refusal::Unknown => "unknown code",
            Refusal::Expired => "expired code",
            Refusal::Used => "code already used",
            Refusal::ActorInUse => "the phone's actor belongs to a live device",
        }
    }
}

/// An actor as Automerge prints it: hex, 1 to 32 bytes; lower-cased, as Automerge prints it
/// and the change table holds it.
pub(crate) fn clean_actor(actor: &str) -> Option<String> {
    let actor = actor.trim().to_ascii_lowercase();
    let valid = (2..=64).contains(&actor.len())
        && actor.len().is_multiple_of(2)
        && actor.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then_some(actor)
}

/// Exchanges a code for a device token, once: the code is marked used and the device made
/// in one transaction, so two phones racing with one code get one device between them. A
/// refusal consumes nothing, and every attempt is audited.
pub async fn redeem(
    db: &Db,
    request: Redeem<'_>,
) -> Result<Result<Enrolled, Refusal>, sqlx::Error> {
    let refused = |code_id: &str, refusal: Refusal| {
        Entry::new("device.enroll", Outcome::Denied)
            .on(code_id)
            .from(request.client)
            .saying(refusal.detail())
    };
    let (Some(canonical), Some(actor)) = (normalize_code(request.code), clean_actor(request.actor))
    else {
        audit::record(db, refused("", Refusal::Malformed)).await?;
        return Ok(Err(Refusal::Malformed));
    };
    let now = now();
    let mut write = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT id, volunteer, villages, expires_at, used_at FROM enrollment_code
         WHERE code_hash = $1",
    )
    .bind(code_hash(&canonical))
    .fetch_optional(&mut *write.tx)
    .await?;
    let decided = match row {
        None => Err(("".to_owned(), Refusal::Unknown)),
        Some(row) => {
            let id: String = row.try_get("id")?;
            let taken =
                sqlx::query("SELECT id FROM device WHERE actor = $1 AND revoked_at IS NULL")
                    .bind(&actor)
                    .fetch_optional(&mut *write.tx)
                    .await?
                    .is_some();
            if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
                Err((id, Refusal::Used))
            } else if row.try_get::<i64, _>("expires_at")? <= now {
                Err((id, Refusal::Expired))
            } else if taken {
                Err((id, Refusal::ActorInUse))
            } else {
                Ok((
                    id,
                    row.try_get::<String, _>("volunteer")?,
                    split(&row.try_get::<String, _>("villages")?),
                ))
            }
        }
    };
    let (code_id, volunteer, villages) = match decided {
        Ok(found) => found,
        Err((code_id, refusal)) => {
            write.tx.rollback().await?;
            audit::record(db, refused(&code_id, refusal)).await?;
            return Ok(Err(refusal));
        }
    };
    let device_id = auth::random_hex(8);
    let token = auth::new_token();
    let name = request
        .device_name
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| name.chars().take(MAX_NAME_CHARS).collect::<String>())
        .unwrap_or_else(|| format!("phone of {volunteer}"));
    sqlx::query(
        "INSERT INTO device (id, name, token_hash, created_at, actor, volunteer)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&device_id)
    .bind(&name)
    .bind(auth::token_hash(&token))
    .bind(now)
    .bind(&actor)
    .bind(&volunteer)
    .execute(&mut *write.tx)
    .await?;
    insert_villages(&mut write.tx, &device_id, &villages).await?;
    let used = sqlx::query(
        "UPDATE enrollment_code SET used_at = $1, device_id = $2 WHERE id = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&device_id)
    .bind(&code_id)
    .execute(&mut *write.tx)
    .await?;
    if used.rows_affected() != 1 {
        // Only possible if the write order were broken; refuse rather than enrol twice.
        write.tx.rollback().await?;
        audit::record(db, refused(&code_id, Refusal::Used)).await?;
        return Ok(Err(Refusal::Used));
    }
    let entry = Entry::new("device.enroll", Outcome::Ok)
        .by(format!("device:{device_id}"), "device")
        .on(&code_id)
        .from(request.client)
        .saying(format!(
            "volunteer {volunteer}; villages {}; actor {actor}",
            join(&villages)
        ));
    audit::record_in(&mut write.tx, entry).await?;
    write.commit().await?;
    Ok(Ok(Enrolled {
        device_id,
        device_token: token,
        volunteer,
        villages: villages.iter().map(ToString::to_string).collect(),
    }))
}

async fn insert_villages(
    conn: &mut sqlx::AnyConnection,
    device_id: &str,
    villages: &[AreaCode],
) -> Result<(), sqlx::Error> {
    if villages.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO device_village (device_id, village) VALUES {}",
        crate::storage::db::Backend::of(conn).value_rows(villages.len(), 2)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for village in villages {
        query = query.bind(device_id).bind(village.as_str());
    }
    query.execute(conn).await?;
    Ok(())
}

// ─── Managing devices ─────────────────────────────────────────────────────────────────────

/// A device as staff see it. Its token is never shown again.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceInfo {
    pub id: String,
    pub name: String,
    pub volunteer: String,
    pub villages: Vec<String>,
    /// Taken from it within the grace period: it may still upload households of these.
    pub former_villages: Vec<String>,
    /// Bound at enrollment; `None` for devices added at the command line.
    pub actor: Option<String>,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoke_reason: String,
    /// Whether the phone is told to erase its data at its next contact.
    pub wipe_requested: bool,
    /// When a revoked phone was first told so.
    pub wipe_sent_at: Option<i64>,
}

impl DeviceInfo {
    /// The villages a staff member must cover to manage the device: all of them.
    pub fn villages(&self) -> Vec<AreaCode> {
        self.villages
            .iter()
            .filter_map(|code| AreaCode::parse_village(code).ok())
            .collect()
    }
}

const DEVICE_COLUMNS: &str = "id, name, volunteer, actor, created_at, last_seen_at, revoked_at,
     revoked_by, revoke_reason, wipe_requested, wipe_sent_at";

async fn device_infos(
    db: &Db,
    rows: Vec<sqlx::any::AnyRow>,
) -> Result<Vec<DeviceInfo>, sqlx::Error> {
    let ids: Vec<String> = rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let since = now() - FORMER_VILLAGE_DAYS * 86_400;
    let mut villages: HashMap<String, Vec<String>> = HashMap::new();
    let mut former: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(db::rows_per_statement(1) - 1) {
        let list = db.backend.placeholders(chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT device_id, village FROM device_village WHERE device_id IN ({list})
             ORDER BY village"
        )));
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&db.pool).await? {
            villages
                .entry(row.try_get("device_id")?)
                .or_default()
                .push(row.try_get("village")?);
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT device_id, village FROM device_village_removed
             WHERE device_id IN ({list}) AND removed_at > {} ORDER BY village",
            db.backend.parameter(chunk.len() + 1)
        )));
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.bind(since).fetch_all(&db.pool).await? {
            former
                .entry(row.try_get("device_id")?)
                .or_default()
                .push(row.try_get("village")?);
        }
    }
    rows.iter()
        .zip(ids)
        .map(|(row, id)| {
            Ok(DeviceInfo {
                name: row.try_get("name")?,
                volunteer: row.try_get("volunteer")?,
                villages: villages.remove(&id).unwrap_or_default(),
                former_villages: former.remove(&id).unwrap_or_default(),
                actor: row.try_get("actor")?,
                created_at: row.try_get("created_at")?,
                last_seen_at: row.try_get("last_seen_at")?,
                revoked_at: row.try_get("revoked_at")?,
                revoked_by: row.try_get("revoked_by")?,
                revoke_reason: row.try_get("revoke_reason")?,
                wipe_requested: row.try_get::<i64, _>("wipe_requested")? != 0,
                wipe_sent_at: row.try_get("wipe_sent_at")?,
                id,
            })
        })
        .collect()
}

/// One device, revoked or not.
pub async fn device(db: &Db, id: &str) -> Result<Option<DeviceInfo>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DEVICE_COLUMNS} FROM device WHERE id = $1"
    )))
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    Ok(device_infos(db, rows).await?.pop())
}

/// Every device with a village in `area`, revoked ones included, newest first.
pub async fn list(db: &Db, area: &AreaCode) -> Result<Vec<DeviceInfo>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DEVICE_COLUMNS} FROM device d WHERE EXISTS (
             SELECT 1 FROM device_village v
             WHERE v.device_id = d.id AND v.village LIKE $1)
         ORDER BY created_at DESC, id"
    )))
    // An area code is digits only, so it holds no LIKE wildcard.
    .bind(format!("{area}%"))
    .fetch_all(&db.pool)
    .await?;
    device_infos(db, rows).await
}

fn no_device(id: &str) -> DeviceError {
    DeviceError::NotFound(Message::new(
        format!("没有设备“{id}”"),
        format!("No device \"{id}\""),
    ))
}

/// Revokes a device: its token stops working at once, for every server on the database.
/// With `wipe`, the phone is told at its next contact to erase what it holds. Revoking a
/// revoked device changes nothing but can still ask for the wipe.
pub async fn revoke(
    db: &Db,
    id: &str,
    wipe: bool,
    reason: &str,
    by: &By,
) -> Result<DeviceInfo, DeviceError> {
    let reason: String = reason.trim().chars().take(500).collect();
    let mut write = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE device SET
             revoked_at = COALESCE(revoked_at, $1),
             revoked_by = COALESCE(revoked_by, $2),
             revoke_reason = CASE WHEN revoked_at IS NULL THEN $3 ELSE revoke_reason END,
             wipe_requested = CASE WHEN $4 = 1 THEN 1 ELSE wipe_requested END
         WHERE id = $5",
    )
    .bind(now())
    .bind(&by.actor)
    .bind(&reason)
    .bind(i64::from(wipe))
    .bind(id)
    .execute(&mut *write.tx)
    .await?;
    if updated.rows_affected() == 0 {
        write.tx.rollback().await?;
        return Err(no_device(id));
    }
    let entry = by
        .entry("device.revoke", Outcome::Ok)
        .on(format!("device:{id}"))
        .saying(format!(
            "{}; reason: {reason}",
            if wipe { "wipe requested" } else { "no wipe" }
        ));
    audit::record_in(&mut write.tx, entry).await?;
    write.commit().await?;
    device(db, id).await?.ok_or_else(|| no_device(id))
}

/// Gives a device a new set of villages. The phone learns them at its next sync: it
/// receives the added villages' households, and drops the removed villages' households once
/// their edits are on the server, which accepts uploads to them for
/// [`FORMER_VILLAGE_DAYS`] more days.
pub async fn set_villages(
    db: &Db,
    id: &str,
    villages: &[AreaCode],
    by: &By,
) -> Result<DeviceInfo, DeviceError> {
    let villages = checked_villages(db, villages).await?;
    let now = now();
    // Read inside the write transaction: two reassignments at once must not each add and
    // remove against a list the other has changed.
    let mut write = db.begin_write().await?;
    let row = sqlx::query("SELECT revoked_at FROM device WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *write.tx)
        .await?;
    let Some(row) = row else {
        write.tx.rollback().await?;
        return Err(no_device(id));
    };
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        write.tx.rollback().await?;
        return Err(DeviceError::Conflict(Message::new(
            format!("设备“{id}”已被撤销，不能再分配村"),
            format!("Device \"{id}\" is revoked; it cannot be given villages"),
        )));
    }
    let before: Vec<AreaCode> =
        sqlx::query("SELECT village FROM device_village WHERE device_id = $1")
            .bind(id)
            .fetch_all(&mut *write.tx)
            .await?
            .iter()
            .filter_map(|row| row.try_get::<String, _>("village").ok())
            .filter_map(|code| AreaCode::parse_village(&code).ok())
            .collect();
    let removed: Vec<&AreaCode> = before.iter().filter(|v| !villages.contains(v)).collect();
    let added: Vec<&AreaCode> = villages.iter().filter(|v| !before.contains(v)).collect();
    for village in &removed {
        sqlx::query("DELETE FROM device_village WHERE device_id = $1 AND village = $2")
            .bind(id)
            .bind(village.as_str())
            .execute(&mut *write.tx)
            .await?;
        sqlx::query(
            "INSERT INTO device_village_removed (device_id, village, removed_at)
             VALUES ($1, $2, $3)
             ON CONFLICT (device_id, village) DO UPDATE SET removed_at = excluded.removed_at",
        )
        .bind(id)
        .bind(village.as_str())
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
    }
    for village in &added {
        sqlx::query("DELETE FROM device_village_removed WHERE device_id = $1 AND village = $2")
            .bind(id)
            .bind(village.as_str())
            .execute(&mut *write.tx)
            .await?;
    }
    let added: Vec<AreaCode> = added.into_iter().cloned().collect();
    insert_villages(&mut write.tx, id, &added).await?;
    let removed: Vec<AreaCode> = removed.into_iter().cloned().collect();
    let entry = by
        .entry("device.villages", Outcome::Ok)
        .on(format!("device:{id}"))
        .saying(format!(
            "now {}; added {}; removed {}",
            join(&villages),
            join(&added),
            join(&removed)
        ));
    audit::record_in(&mut write.tx, entry).await?;
    write.commit().await?;
    device(db, id).await?.ok_or_else(|| no_device(id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_a_code_is_sixteen_crockford_characters_in_four_groups() {
        let code = generate_code();
        assert_eq!(code.len(), 19, "{code}");
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(groups.iter().all(|g| g.len() == 4), "{code}");
        let canonical = normalize_code(&code).unwrap();
        assert_eq!(canonical.len(), CODE_LENGTH);
        assert!(canonical.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert_eq!(display_code(&canonical), code);
    }

    #[test]
    fn test_codes_do_not_repeat_and_use_every_character() {
        let codes: std::collections::HashSet<String> = (0..2000).map(|_| generate_code()).collect();
        assert_eq!(codes.len(), 2000);
        // 80 random bits spread over the whole alphabet: a code generator stuck on part of
        // it (a shifted bit, a short alphabet) shows here.
        let seen: std::collections::HashSet<u8> = codes
            .iter()
            .flat_map(|c| c.bytes().filter(|b| *b != b'-').collect::<Vec<_>>())
            .collect();
        assert_eq!(seen.len(), 32);
    }

    #[test]
    fn test_a_typed_code_is_read_as_people_type_it() {
        let canonical = "0123456789ABCDEF";
        for typed in [
            "0123-4567-89AB-CDEF",
            "0123 4567 89ab cdef",
            "o123-4567-89AB-CDEF",
            " 0I23456789abcdef ",
            "0L23-4567-89AB-CDEF",
        ] {
            assert_eq!(normalize_code(typed).as_deref(), Some(canonical), "{typed}");
        }
        for wrong in [
            "",
            "0123-4567-89AB-CDE",
            "0123-4567-89AB-CDEF0",
            "0123-4567-89AB-CDEU",
            "0123-4567-89AB-CDE!",
            "０123-4567-89AB-CDEF",
        ] {
            assert_eq!(normalize_code(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn test_only_the_hash_of_the_canonical_code_is_compared() {
        let a = normalize_code("abcd-efgh-jkmn-pqrs").unwrap();
        let b = normalize_code("ABCDEFGHJKMNPQRS").unwrap();
        assert_eq!(code_hash(&a), code_hash(&b));
        assert!(!code_hash(&a).contains("ABCD"));
    }

    #[test]
    fn test_a_code_works_once_and_until_it_expires() {
        let fresh = StoredCode {
            id: "c".into(),
            volunteer: "李娜".into(),
            villages: vec![],
            expires_at: 1_000,
            used_at: None,
        };
        assert!(fresh.usable(999));
        assert!(!fresh.usable(1_000), "expired at its expiry second");
        let used = StoredCode {
            used_at: Some(10),
            ..fresh
        };
        assert!(!used.usable(11));
    }

    #[test]
    fn test_the_payload_names_the_server_when_it_is_known() {
        let code = "ABCD-EFGH-JKMN-PQRS";
        assert_eq!(payload(None, code), code);
        assert_eq!(payload(Some("  "), code), code);
        assert_eq!(
            payload(Some("https://county.example:8443/doorstep/"), code),
            "doorstep:enroll?server=https%3A%2F%2Fcounty.example%3A8443%2Fdoorstep&code=ABCD-EFGH-JKMN-PQRS"
        );
    }

    #[test]
    fn test_the_qr_code_renders_as_svg_and_png() {
        let text = payload(Some("http://127.0.0.1:8080"), &generate_code());
        let svg = qr_svg(&text);
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
        let png = qr_png(&text);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
        assert!(decoded.width() >= 256 && decoded.height() >= 256);
    }

    #[test]
    fn test_an_actor_must_be_hex() {
        assert_eq!(clean_actor("0A1b").as_deref(), Some("0a1b"));
        assert_eq!(clean_actor(""), None);
        assert_eq!(clean_actor("abc"), None);
        assert_eq!(clean_actor("zz"), None);
        assert_eq!(clean_actor(&"ab".repeat(33)), None);
    }

    #[test]
    fn test_a_server_address_too_long_for_a_qr_code_leaves_the_bare_code() {
        let code = generate_code();
        let text = payload(
            Some(&format!("https://{}.example", "a".repeat(5000))),
            &code,
        );
        let svg = qr_svg(&text);
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(!qr_png(&text).is_empty());
    }
}
