//! `doorstep staff add`: an account made by an operator with the database (admins can also
//! use the API), audited as `operator`.

use super::admin::new_staff;
use super::audit_operator;
use crate::access::accounts;
use crate::access::roles::Role;
use crate::clock::Clock;
use crate::storage::db::Db;
use crate::storage::vault::Vault;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create an account. Reads the password from standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// county_admin, county_staff, township_staff or auditor.
        #[arg(long)]
        role: String,
        /// The account's area: a county for county roles, a township for township staff.
        #[arg(long)]
        scope: String,
    },
}

pub async fn run(
    db: &Db,
    vault: &Vault,
    clock: &Clock,
    command: StaffCommand,
) -> Result<(), String> {
    let StaffCommand::Add {
        username,
        name,
        role,
        scope,
    } = command;
    let role = Role::parse(&role).map_err(|message| message.to_string())?;
    let new = new_staff(username, name, role, &scope)?;
    let created = accounts::create(db, vault, clock, new)
        .await
        .map_err(|err| err.to_string())?;
    let detail = format!("role {} scope {}", role.as_str(), created.staff.scope);
    audit_operator(db, clock, "staff.create", &created.staff.username, &detail).await?;
    println!("created {} {}", role.as_str(), created.staff.username);
    if let Some(uri) = created.totp_uri() {
        println!("{uri}");
    }
    Ok(())
}
