//! better-auth admin plugin's access control: what each user role may do to users and
//! sessions. A user's `role` may list several roles (`admin,user`); any of them grants.

use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult};

pub const ADMIN: &str = "admin";
pub const USER: &str = "user";
pub const ROLES: [&str; 2] = [ADMIN, USER];

/// `(resource, actions)` granted to the admin role: everything except impersonating other
/// admins.
const ADMIN_STATEMENTS: [(&str, &[&str]); 2] = [
    (
        "user",
        &[
            "create",
            "list",
            "set-role",
            "ban",
            "impersonate",
            "delete",
            "set-password",
            "set-email",
            "get",
            "update",
        ],
    ),
    ("session", &["list", "revoke", "delete"]),
];

fn role_allows(role: &str, resource: &str, action: &str) -> bool {
    role == ADMIN
        && ADMIN_STATEMENTS
            .iter()
            .any(|(granted, actions)| *granted == resource && actions.contains(&action))
}

/// Whether a user with `roles` may perform `action` on `resource`.
pub fn allows(roles: &str, resource: &str, action: &str) -> bool {
    roles
        .split(',')
        .any(|role| role_allows(role.trim(), resource, action))
}

/// Whether every role in `roles` is one this API knows.
pub fn known(roles: &str) -> bool {
    roles.split(',').all(|role| ROLES.contains(&role.trim()))
}

pub fn is_admin(roles: &str) -> bool {
    roles.split(',').any(|role| role.trim() == ADMIN)
}

/// 403 `admin.required` unless the caller holds the role `admin` (the app's own admin routes).
pub fn require_admin(caller: &Authenticated) -> ApiResult<()> {
    match is_admin(&caller.0.user.role) {
        true => Ok(()),
        false => Err(ApiError::forbidden("admin.required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_may_manage_users_but_not_impersonate_admins() {
        assert!(allows("admin", "user", "ban"));
        assert!(allows("user,admin", "session", "revoke"));
        assert!(!allows("admin", "user", "impersonate-admins"));
        assert!(!allows("user", "user", "list"));
        assert!(!allows("admin", "billing", "list"));
        assert!(known("admin,user") && !known("owner"));
    }
}
