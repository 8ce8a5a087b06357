//! The command line: every command, argument and option of `doorstep-field`.
//!
//! Arguments arrive as plain strings and are parsed into Doorstep's own types by the
//! commands, so a bad household id or field path gets Doorstep's message in Chinese and
//! English rather than clap's English-only one.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The Doorstep field client: records households, members and visits in a local store,
/// offline, through the same store the phone app uses.
///
/// Doorstep 入户登记客户端：离线记录户、成员和走访。
#[derive(Debug, Parser)]
#[command(name = "doorstep-field", version)]
pub struct Cli {
    /// The store directory (created if missing). 本地数据目录。
    #[arg(long, env = "DOORSTEP_STORE", global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create households. 新建户。
    Household {
        #[command(subcommand)]
        action: HouseholdAction,
    },
    /// Add members to a household. 添加成员。
    Member {
        #[command(subcommand)]
        action: MemberAction,
    },
    /// Set one field; an empty VALUE clears it. 修改字段，空值即清除。
    ///
    /// The value is saved even when it breaks a rule; the problems are printed on stderr.
    /// Run `doorstep-field fields` for every field path.
    Set {
        /// Household id. 户标识。
        #[arg(value_name = "HH")]
        household: String,
        /// Field path, e.g. `members.<key>.employment.status`. 字段路径。
        #[arg(value_name = "FIELD_PATH")]
        path: String,
        /// The value as typed; `""` clears the field. 取值。
        #[arg(value_name = "VALUE", allow_hyphen_values = true)]
        value: String,
    },
    /// Record a finished visit to a household and print its id. 记录一次走访。
    Visit {
        /// Household id. 户标识。
        #[arg(value_name = "HH")]
        household: String,
        /// Outcome code, e.g. `met`; `doorstep-field fields` lists them. 走访结果代码。
        #[arg(long)]
        outcome: String,
        /// Notes taken during the visit. 备注。
        #[arg(long)]
        note: Option<String>,
        /// Where the visit took place, as `LAT,LON` in degrees. 位置（纬度,经度）。
        #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
        gps: Option<String>,
    },
    /// Show one household: fields, members, visits, issues, conflicts. 查看一户。
    Show {
        /// Household id. 户标识。
        #[arg(value_name = "HH")]
        household: String,
        /// Print the household as JSON. 以 JSON 输出。
        #[arg(long)]
        json: bool,
    },
    /// The to-do list: every open visit task on this device. 待核实任务清单。
    Tasks {
        /// Print the list as JSON. 以 JSON 输出。
        #[arg(long)]
        json: bool,
    },
    /// Work on one visit task. 处理核实任务。
    Task {
        #[command(subcommand)]
        action: TaskAction,
    },
    /// List households, one line each. 列出各户。
    List {
        /// Part of a name, ID number or household number. 姓名、身份证号或户编号的一部分。
        #[arg(long)]
        search: Option<String>,
        /// Only this village (12-digit code). 只列此村。
        #[arg(long, value_name = "CODE")]
        village: Option<String>,
        /// Print the list as JSON. 以 JSON 输出。
        #[arg(long)]
        json: bool,
    },
    /// Set who this device is and who uses it; without options, show it. 设置本机和走访人。
    Profile {
        /// The device's name. 设备名称。
        #[arg(long, value_name = "NAME")]
        device: Option<String>,
        /// The volunteer's name. 走访人姓名。
        #[arg(long, value_name = "NAME")]
        volunteer: Option<String>,
    },
    /// List every field path with its kind, labels and codes. 列出所有字段。
    Fields,
    /// Show this device: actor, profile, villages, households, unsynced changes. 本机状态。
    Status {
        /// Print the status as JSON. 以 JSON 输出。
        #[arg(long)]
        json: bool,
    },
    /// Connect this store to a sync server with a device token. 连接服务器。
    Init {
        /// The server's address, e.g. `https://county.example/`. 服务器地址。
        #[arg(long, value_name = "URL")]
        server: String,
        /// The device token from `doorstep device add`. 设备令牌。
        #[arg(long, value_name = "TOKEN")]
        token: String,
    },
    /// Enroll this device with the one-time code township staff gave the volunteer. 用注册码登记本机。
    ///
    /// CODE is the code as printed (`ABCD-EFGH-JKMN-PQRS`) or the text of its QR code, which
    /// names the server too.
    Enroll {
        /// The enrollment code, or the QR code's text. 注册码。
        #[arg(value_name = "CODE")]
        code: String,
        /// The server's address; needed unless CODE is a QR code's text. 服务器地址。
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// What staff see this device as. 设备名称。
        #[arg(long, value_name = "NAME")]
        device_name: Option<String>,
    },
    /// Sync with the server: upload what it lacks, receive what others recorded. 同步。
    Sync {
        /// Print the summary as JSON. 以 JSON 输出。
        #[arg(long)]
        json: bool,
        /// The most bytes one response may carry; smaller pages suit slower links.
        #[arg(long, value_name = "BYTES", default_value_t = schema::wire::DEFAULT_PAGE_BYTES)]
        page_bytes: u32,
    },
    /// Record made-up households, for demos and load tests; prints each id once it is
    /// saved. 生成演示数据。
    Generate {
        /// The village's 12-digit code. 村级区划代码。
        #[arg(long, value_name = "CODE")]
        village: String,
        /// How many households. 户数。
        #[arg(long, default_value_t = 10)]
        households: u32,
        /// Start of the numbering, so several runs make distinct people. 起始编号。
        #[arg(long, default_value_t = 0)]
        first: u32,
    },
    /// Add training records. 添加培训记录。
    Training {
        #[command(subcommand)]
        action: RecordAction,
    },
    /// Add subsidy records. 添加补贴记录。
    Subsidy {
        #[command(subcommand)]
        action: RecordAction,
    },
    /// Attach, list and fetch photos; `sync` uploads them after the data. 照片。
    Photo {
        #[command(subcommand)]
        action: PhotoAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum PhotoAction {
    /// Attach a photo (JPEG or PNG) to a household or one of its records; it is made small,
    /// stripped of EXIF, and its hash printed. 附加照片并输出其哈希。
    Add {
        /// Household id. 户标识。
        #[arg(value_name = "HH")]
        household: String,
        /// The photo file. 照片文件。
        #[arg(long, value_name = "FILE")]
        file: std::path::PathBuf,
        /// door_plate, certificate, contract, bank_card, id_card or other. 照片类别。
        #[arg(long, value_name = "KIND")]
        kind: String,
        /// The member it belongs to. 所属成员标识。
        #[arg(long, value_name = "KEY", group = "record")]
        member: Option<String>,
        /// The visit it belongs to. 所属走访记录。
        #[arg(long, value_name = "ID", group = "record")]
        visit: Option<String>,
        /// The training it belongs to. 所属培训记录。
        #[arg(long, value_name = "ID", group = "record")]
        training: Option<String>,
        /// The subsidy it belongs to. 所属补贴记录。
        #[arg(long, value_name = "ID", group = "record")]
        subsidy: Option<String>,
        /// The long side, in pixels, it is resized to. 长边像素。
        #[arg(long, value_name = "PX", default_value_t = schema::photo::DEFAULT_LONG_SIDE)]
        long_side: u32,
    },
    /// List a household's photos. 列出一户的照片。
    List {
        /// Household id. 户标识。
        #[arg(value_name = "HH")]
        household: String,
        /// Print as JSON. 以 JSON 输出。
        #[arg(long)]
        json: bool,
    },
    /// Write a photo to a file: its thumbnail, fetched when not on the device, or with
    /// --full the whole photo. 取出照片（缩略图或原图）。
    Get {
        /// The photo's hash (64 hex digits). 照片哈希。
        #[arg(value_name = "HASH")]
        hash: String,
        /// Where to write it. 输出文件。
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// The whole photo, not its thumbnail. 原图。
        #[arg(long)]
        full: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HouseholdAction {
    /// Create a household and print its id. 新建一户并输出户标识。
    New {
        /// The village's 12-digit code. 村级区划代码（12 位）。
        #[arg(long, value_name = "CODE")]
        village: String,
        /// The registry household number; a provisional one is made if omitted. 户编号。
        #[arg(long, value_name = "NUM")]
        number: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberAction {
    /// Add a member and print the member key. 添加成员并输出成员标识。
    Add {
        /// Household id. 户标识。
        #[arg(value_name = "HH")]
        household: String,
        /// The member's name. 姓名。
        #[arg(long)]
        name: String,
        /// The 18-character resident ID number. 身份证号码。
        #[arg(long, value_name = "ID")]
        id_number: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecordAction {
    /// Add a record for a member and print its id. 添加记录并输出记录标识。
    Add {
        /// Household id. 户标识。
        #[arg(value_name = "HH")]
        household: String,
        /// The member's key. 成员标识。
        #[arg(long, value_name = "KEY")]
        member: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TaskAction {
    /// Mark a task checked, saying what the visit found. 标记已核实并写明核实情况。
    Check {
        /// Household id. 户标识。
        #[arg(value_name = "HH")]
        household: String,
        /// The task's id, as `tasks` lists it. 任务标识。
        #[arg(value_name = "TASK")]
        task: String,
        /// What the visit found. 核实情况。
        #[arg(long)]
        note: String,
    },
}
