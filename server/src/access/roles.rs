//! Roles, and what each may do: the one table of permissions (docs/SECURITY.md).

use schema::Message;
use schema::ids::{AreaCode, AreaLevel};
use serde::Serialize;

/// What a staff member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the county's accounts; also works the register and the queues.
    CountyAdmin,
    /// Works the county's register, review queue and quarantine; sees ID numbers on request.
    CountyStaff,
    /// Works one township: its register (masked) and its devices.
    TownshipStaff,
    /// Reads the audit log and nothing of the data.
    Auditor,
}

/// Something a request may want to do, which a role allows or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ReadRegister,
    /// Read ID numbers and other sensitive fields unmasked (every such read is audited).
    RevealSensitive,
    ResolveReview,
    EnrollDevices,
    ManageDevices,
    DecideQuarantine,
    ManageStaff,
    /// Edit the yearly subsidy parameters (caps, shares, the provincial average wage).
    ManageSettings,
    ReadAudit,
    /// Close a month of the indicators: its figures are stored and never change.
    CloseMonth,
    /// Import and withdraw other offices' rosters for comparison (county roles).
    ImportRosters,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::CountyAdmin,
        Role::CountyStaff,
        Role::TownshipStaff,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CountyAdmin => "county_admin",
            Role::CountyStaff => "county_staff",
            Role::TownshipStaff => "township_staff",
            Role::Auditor => "auditor",
        }
    }

    /// Reads a role as stored or as typed (`county-admin` and `county_admin` both).
    pub fn parse(input: &str) -> Result<Role, Message> {
        let normalised = input.trim().replace('-', "_");
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == normalised)
            .ok_or_else(|| {
                Message::new(
                    format!(
                        "未知角色“{input}”：应为 county_admin、county_staff、township_staff 或 auditor"
                    ),
                    format!(
                        "Unknown role \"{input}\": expected county_admin, county_staff, township_staff or auditor"
                    ),
                )
            })
    }

    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::CountyAdmin => permission != ReadAudit,
            Role::CountyStaff => !matches!(
                permission,
                ReadAudit | ManageStaff | ManageSettings | CloseMonth
            ),
            Role::TownshipStaff => {
                matches!(permission, ReadRegister | EnrollDevices | ManageDevices)
            }
            Role::Auditor => permission == ReadAudit,
        }
    }

    /// Whether an account of this role may have `scope`: county roles a county or wider,
    /// township staff one township; auditors any area.
    pub fn fits(self, scope: &AreaCode) -> bool {
        match self {
            Role::CountyAdmin | Role::CountyStaff => scope.level() <= AreaLevel::County,
            Role::TownshipStaff => scope.level() == AreaLevel::Township,
            Role::Auditor => scope.level() <= AreaLevel::County,
        }
    }

    /// Whether logging in needs a TOTP code as well as the password.
    pub fn needs_second_factor(self) -> bool {
        self == Role::CountyAdmin
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn test_only_auditors_read_the_audit_log_and_auditors_read_nothing_else() {
        for role in Role::ALL {
            assert_eq!(role.may(Permission::ReadAudit), role == Role::Auditor);
        }
        for permission in [
            Permission::ReadRegister,
            Permission::RevealSensitive,
            Permission::ResolveReview,
            Permission::EnrollDevices,
            Permission::DecideQuarantine,
        ] {
            assert!(!Role::Auditor.may(permission));
        }
        assert!(Role::TownshipStaff.may(Permission::EnrollDevices));
        assert!(!Role::TownshipStaff.may(Permission::RevealSensitive));
        assert!(!Role::TownshipStaff.may(Permission::ResolveReview));
        assert!(!Role::CountyStaff.may(Permission::ManageStaff));
        assert!(Role::CountyAdmin.may(Permission::ManageStaff));
        assert!(Role::CountyAdmin.may(Permission::ManageSettings));
        assert!(!Role::CountyStaff.may(Permission::ManageSettings));
        assert!(!Role::TownshipStaff.may(Permission::ManageSettings));
    }

    #[test]
    fn test_roles_parse_as_typed_and_as_stored() {
        assert_eq!(Role::parse("county-admin").unwrap(), Role::CountyAdmin);
        assert_eq!(Role::parse("township_staff").unwrap(), Role::TownshipStaff);
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn test_scope_must_fit_the_role() {
        let county = AreaCode::parse("141124").unwrap();
        let township = AreaCode::parse("141124100").unwrap();
        assert!(Role::CountyStaff.fits(&county));
        assert!(!Role::CountyStaff.fits(&township));
        assert!(Role::TownshipStaff.fits(&township));
        assert!(!Role::TownshipStaff.fits(&county));
    }
}
