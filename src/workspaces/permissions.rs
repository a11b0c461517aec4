//! What a workspace role may do: eight permissions, always listed in one canonical order.

use poem::http::StatusCode;
use poem_openapi::Enum;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
pub enum Permission {
    #[oai(rename = "workspace.delete")]
    #[serde(rename = "workspace.delete")]
    Delete,
    #[oai(rename = "workspace.settings.edit")]
    #[serde(rename = "workspace.settings.edit")]
    SettingsEdit,
    #[oai(rename = "workspace.roles.manage")]
    #[serde(rename = "workspace.roles.manage")]
    RolesManage,
    #[oai(rename = "workspace.members.invite")]
    #[serde(rename = "workspace.members.invite")]
    MembersInvite,
    #[oai(rename = "workspace.members.remove")]
    #[serde(rename = "workspace.members.remove")]
    MembersRemove,
    #[oai(rename = "workspace.members.change_role")]
    #[serde(rename = "workspace.members.change_role")]
    MembersChangeRole,
    #[oai(rename = "workspace.billing.manage")]
    #[serde(rename = "workspace.billing.manage")]
    BillingManage,
    #[oai(rename = "workspace.audit.view")]
    #[serde(rename = "workspace.audit.view")]
    AuditView,
}

impl Permission {
    /// Every permission, in the canonical order.
    pub const ALL: [Permission; 8] = [
        Permission::Delete,
        Permission::SettingsEdit,
        Permission::RolesManage,
        Permission::MembersInvite,
        Permission::MembersRemove,
        Permission::MembersChangeRole,
        Permission::BillingManage,
        Permission::AuditView,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Permission::Delete => "workspace.delete",
            Permission::SettingsEdit => "workspace.settings.edit",
            Permission::RolesManage => "workspace.roles.manage",
            Permission::MembersInvite => "workspace.members.invite",
            Permission::MembersRemove => "workspace.members.remove",
            Permission::MembersChangeRole => "workspace.members.change_role",
            Permission::BillingManage => "workspace.billing.manage",
            Permission::AuditView => "workspace.audit.view",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|permission| permission.name() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions(u8);

impl Permissions {
    pub fn of(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |bits, p| bits | p.bit()))
    }

    pub fn all() -> Self {
        Self::of(&Permission::ALL)
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether every permission of `self` is in `other`.
    pub fn is_subset_of(self, other: Permissions) -> bool {
        self.0 & !other.0 == 0
    }

    /// The members of the set, in the canonical order.
    pub fn list(self) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|permission| self.contains(*permission))
            .collect()
    }

    /// The set named by a request (duplicates allowed); 422 `role.unknown_permission` for a
    /// name that is not a permission.
    pub fn parse_names<S: AsRef<str>>(names: &[S]) -> Result<Self, ApiError> {
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref();
            found.push(Permission::from_name(name).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "role.unknown_permission",
                    format!("unknown workspace permission: {name}"),
                )
            })?);
        }
        Ok(Self::of(&found))
    }

    /// As stored in a role row: a JSON array of names.
    pub fn to_stored(self) -> String {
        let names: Vec<&str> = self.list().into_iter().map(Permission::name).collect();
        serde_json::to_string(&names).expect("a list of strings serialises")
    }

    /// From a role row; names this version does not know (a rolled-back release) are ignored
    /// rather than locking the workspace out.
    pub fn from_stored(stored: &str) -> Self {
        let names: Vec<String> = serde_json::from_str(stored).unwrap_or_default();
        Self::of(
            &names
                .iter()
                .filter_map(|name| Permission::from_name(name))
                .collect::<Vec<_>>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_in_canonical_order() {
        let parsed = Permissions::parse_names(&[
            "workspace.members.remove",
            "workspace.delete",
            "workspace.delete",
        ])
        .unwrap();
        assert_eq!(
            parsed.to_stored(),
            r#"["workspace.delete","workspace.members.remove"]"#
        );
        assert_eq!(Permissions::from_stored(&parsed.to_stored()), parsed);
        assert_eq!(
            Permissions::from_stored(r#"["workspace.delete","billing.manage"]"#),
            Permissions::of(&[Permission::Delete])
        );
        let err = Permissions::parse_names(&["workspace.fly"]).unwrap_err();
        assert_eq!(err.code(), "role.unknown_permission");
    }
}
