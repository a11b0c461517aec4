//! The workspace routes, by resource (tags `workspaces`, `members`, `invites`, `roles`).

pub mod invites;
pub mod members;
pub mod roles;
pub mod workspaces;

use poem_openapi::ApiResponse;

use crate::http::prefixed_id::{IdKind, PrefixedId};

pub struct MemberKind;
impl IdKind for MemberKind {
    const PREFIX: &'static str = "mbr";
    const NAME: &'static str = "workspaceMember";
}

pub struct RoleKind;
impl IdKind for RoleKind {
    const PREFIX: &'static str = "wsrole";
    const NAME: &'static str = "workspaceRole";
}

pub struct InviteKind;
impl IdKind for InviteKind {
    const PREFIX: &'static str = "inv";
    const NAME: &'static str = "workspaceInvite";
}

pub type MemberId = PrefixedId<MemberKind>;
pub type RoleId = PrefixedId<RoleKind>;
pub type InviteId = PrefixedId<InviteKind>;

/// The answer of a change that returns nothing.
#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}
