//! `doorstep admin …`: the first county admin, and a new second factor for an admin who lost
//! theirs. Both are for an operator with the database, and audited as `operator`.

use super::{audit_operator, read_password};
use crate::access::accounts::{self, NewAccount};
use crate::access::audit::{Entry, Outcome};
use crate::access::roles::Role;
use crate::clock::Clock;
use crate::storage::db::Db;
use crate::storage::vault::Vault;
use clap::Subcommand;
use schema::Message;
use schema::ids::AreaCode;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create the first county admin (refused once one exists). Reads the password from
    /// standard input and prints the TOTP secret for their authenticator app.
    Init {
        #[arg(long, default_value = "admin")]
        username: String,
        #[arg(long)]
        name: String,
        /// The county (or wider area) the admin manages.
        #[arg(long)]
        scope: String,
    },
    /// Give an admin who lost their authenticator a new TOTP secret (printed once); the old
    /// one and the account's sessions stop working. Audited as done by the operator.
    ResetTotp {
        #[arg(long)]
        username: String,
    },
}

/// An account to create, its password read from standard input.
pub(crate) fn new_staff(
    username: String,
    name: String,
    role: Role,
    scope: &str,
) -> Result<NewAccount, String> {
    Ok(NewAccount {
        username,
        name,
        role,
        scope: AreaCode::parse(scope).map_err(|err| err.message.to_string())?,
        password: read_password()?,
    })
}

pub async fn run(
    db: &Db,
    vault: &Vault,
    clock: &Clock,
    command: AdminCommand,
) -> Result<(), String> {
    match command {
        AdminCommand::Init {
            username,
            name,
            scope,
        } => {
            if accounts::has_admin(db)
                .await
                .map_err(|err| err.to_string())?
            {
                return Err(Message::new(
                    "已有管理员；请由管理员创建其他账号",
                    "an admin exists already; let them create other accounts",
                )
                .to_string());
            }
            let new = new_staff(username, name, Role::CountyAdmin, &scope)?;
            let created = accounts::create(db, vault, clock, new)
                .await
                .map_err(|err| err.to_string())?;
            audit_operator(
                db,
                clock,
                "staff.create",
                &created.staff.username,
                "first county admin",
            )
            .await?;
            println!("created county admin {}", created.staff.username);
            if let Some(uri) = created.totp_uri() {
                println!("add this to the admin's authenticator app (shown once):");
                println!("{uri}");
            }
            Ok(())
        }
        AdminCommand::ResetTotp { username } => {
            let entry = Entry::new("staff.reset_totp", Outcome::Ok)
                .by("operator", "operator")
                .from("cli")
                .saying("new TOTP secret, sessions ended");
            let reset = accounts::reset_totp(db, vault, clock, &username, entry)
                .await
                .map_err(|err| err.to_string())?;
            println!("new TOTP secret for {}", reset.staff.username);
            if let Some(uri) = reset.totp_uri() {
                println!("add this to the admin's authenticator app (shown once):");
                println!("{uri}");
            }
            Ok(())
        }
    }
}
