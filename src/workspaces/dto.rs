//! The shapes the Orbit web client reads (`packages/shared/src/dto.ts`).

use poem_openapi::{Enum, Object};
use serde::Serialize;

use super::entities::{invite, member, role, workspace};
use super::permissions::{Permission, Permissions};
use crate::auth::entities::user;
use crate::time::iso;

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceDto {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// The workspace's owner of record: its creator until they hand it over, leave or are
    /// removed, then the owner who took it over (always an Owner member).
    pub owner_id: String,
    pub created_at: String,
}

/// The key of a role every workspace starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum SystemKey {
    Owner,
    Admin,
    Member,
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct RoleDto {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
    pub is_system: bool,
    #[oai(nullable)]
    pub system_key: Option<SystemKey>,
    pub sort_order: i32,
    /// In the canonical order.
    pub permissions: Vec<Permission>,
    /// How many members hold the role (on the routes that count them).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<u64>,
    pub created_at: String,
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct MemberDto {
    pub id: String,
    pub workspace_id: String,
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: RoleDto,
    /// 0–5, picks the avatar colour (derived from the email address).
    pub tone: i32,
    pub created_at: String,
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct InviteDto {
    pub id: String,
    pub workspace_id: String,
    pub email: String,
    /// The member who sent it.
    pub invited_by_id: String,
    /// The role the invitee joins with; `null` means Member.
    #[oai(nullable)]
    pub role: Option<RoleDto>,
    pub created_at: String,
    #[oai(nullable)]
    pub accepted_at: Option<String>,
    #[oai(nullable)]
    pub revoked_at: Option<String>,
}

impl From<&workspace::Model> for WorkspaceDto {
    fn from(row: &workspace::Model) -> Self {
        Self {
            id: row.id.clone(),
            slug: row.slug.clone(),
            name: row.name.clone(),
            owner_id: row.owner_id.clone(),
            created_at: iso(row.created_at),
        }
    }
}

impl SystemKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SystemKey::Owner => "OWNER",
            SystemKey::Admin => "ADMIN",
            SystemKey::Member => "MEMBER",
        }
    }

    pub fn from_stored(stored: Option<&str>) -> Option<Self> {
        match stored? {
            "OWNER" => Some(SystemKey::Owner),
            "ADMIN" => Some(SystemKey::Admin),
            "MEMBER" => Some(SystemKey::Member),
            _ => None,
        }
    }
}

impl RoleDto {
    pub fn new(row: &role::Model, member_count: Option<u64>) -> Self {
        Self {
            id: row.id.clone(),
            workspace_id: row.workspace_id.clone(),
            name: row.name.clone(),
            description: row.description.clone(),
            is_system: row.system_key.is_some(),
            system_key: SystemKey::from_stored(row.system_key.as_deref()),
            sort_order: row.sort_order,
            permissions: Permissions::from_stored(&row.permissions).list(),
            member_count,
            created_at: iso(row.created_at),
        }
    }
}

impl MemberDto {
    pub fn new(member: &member::Model, user: &user::Model, role: &role::Model) -> Self {
        Self {
            id: member.id.clone(),
            workspace_id: member.workspace_id.clone(),
            user_id: member.user_id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            role: RoleDto::new(role, None),
            tone: tone(&user.email),
            created_at: iso(member.created_at),
        }
    }
}

impl InviteDto {
    pub fn new(invite: &invite::Model, role: Option<&role::Model>) -> Self {
        Self {
            id: invite.id.clone(),
            workspace_id: invite.workspace_id.clone(),
            email: invite.email.clone(),
            invited_by_id: invite.invited_by_id.clone(),
            role: role.map(|role| RoleDto::new(role, None)),
            created_at: iso(invite.created_at),
            accepted_at: invite.accepted_at.map(iso),
            revoked_at: invite.revoked_at.map(iso),
        }
    }
}

/// The Orbit client's `hashTone`: `h = h * 31 + code unit` over UTF-16, wrapping at 32 bits,
/// then `% 6`.
pub fn tone(seed: &str) -> i32 {
    let hash = seed
        .encode_utf16()
        .fold(0u32, |h, unit| h.wrapping_mul(31).wrapping_add(unit.into()));
    (hash % 6) as i32
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;
    use serde::Serialize;

    use super::*;

    /// The hot reads are written with serde; the schema comes from poem-openapi.
    fn same_json<T: ToJSON + Serialize>(value: &T) {
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            value.to_json().unwrap()
        );
    }

    #[test]
    fn serde_and_the_documented_schema_render_the_same_json() {
        let role = RoleDto {
            id: "wsrole_1".into(),
            workspace_id: "ws_1".into(),
            name: "Owner".into(),
            description: None,
            is_system: true,
            system_key: Some(SystemKey::Owner),
            sort_order: 0,
            permissions: Permission::ALL.to_vec(),
            member_count: None,
            created_at: "2026-11-23T00:00:00.000Z".into(),
        };
        let counted = RoleDto {
            member_count: Some(3),
            description: Some("d".into()),
            system_key: None,
            ..role.clone()
        };
        let member = MemberDto {
            id: "mbr_1".into(),
            workspace_id: "ws_1".into(),
            user_id: "user_1".into(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            role: role.clone(),
            tone: 3,
            created_at: "2026-11-23T00:00:00.000Z".into(),
        };
        let invite = InviteDto {
            id: "inv_1".into(),
            workspace_id: "ws_1".into(),
            email: "bob@example.com".into(),
            invited_by_id: "mbr_1".into(),
            role: None,
            created_at: "2026-11-23T00:00:00.000Z".into(),
            accepted_at: Some("2026-11-24T00:00:00.000Z".into()),
            revoked_at: None,
        };
        same_json(&WorkspaceDto {
            id: "ws_1".into(),
            slug: "acme".into(),
            name: "Acme".into(),
            owner_id: "user_1".into(),
            created_at: "2026-11-23T00:00:00.000Z".into(),
        });
        same_json(&role);
        same_json(&counted);
        same_json(&vec![member]);
        same_json(&vec![
            invite.clone(),
            InviteDto {
                role: Some(role),
                ..invite
            },
        ]);
    }

    #[test]
    fn tone_matches_the_web_clients_hash() {
        // Values computed with the client's JavaScript: ((h * 31 + c) >>> 0) % 6.
        assert_eq!(tone(""), 0);
        assert_eq!(tone("a"), 97 % 6);
        assert_eq!(tone("ab"), (97 * 31 + 98) % 6);
        assert_eq!(tone("ada@example.com"), 3);
        assert_eq!(tone("zoë.ünïcode-long-address@example.com"), 5);
        assert_eq!(tone("😀@x.io"), 3, "UTF-16 code units, surrogates included");
    }
}
