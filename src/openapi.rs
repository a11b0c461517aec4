//! The OpenAPI document: every route of the API is an operation of this service.

use poem_openapi::{OpenApiService, Tags};

use crate::auth::api::account::AccountApi;
use crate::auth::api::admin::{
    impersonation::ImpersonationApi, sessions::AdminSessionsApi, users::AdminUsersApi,
};
use crate::auth::api::email_password::EmailPasswordApi;
use crate::auth::api::password::PasswordApi;
use crate::auth::api::{magic_link::MagicLinkApi, sessions::SessionsApi};
use crate::dev::api::DevApi;
use crate::me::api::MeApi;
use crate::system::api::SystemApi;
use crate::workspaces::api::{
    invites::InvitesApi, members::MembersApi, roles::RolesApi, workspaces::WorkspacesApi,
};

#[derive(Tags)]
pub enum ApiTags {
    /// Liveness, readiness and public configuration
    System,
    /// Sign-in and sessions, compatible with better-auth's client (errors are
    /// `{"message","code"}` here)
    Auth,
    /// Managing users and their sessions (better-auth's admin plugin; role `admin`)
    Admin,
    /// The signed-in user
    Me,
    /// Workspaces (tenants): every route checks that you are a member
    #[oai(rename = "workspaces")]
    Workspaces,
    /// A workspace's members and their roles
    #[oai(rename = "members")]
    Members,
    /// Invitations to a workspace
    #[oai(rename = "invites")]
    Invites,
    /// A workspace's roles and their permissions
    #[oai(rename = "roles")]
    Roles,
    /// Development helpers (404 in production)
    Dev,
}

/// Every API, in two groups (std's `Default` stops at 12-tuples).
pub type Apis = (AuthApis, AppApis);

type AuthApis = (
    MagicLinkApi,
    EmailPasswordApi,
    PasswordApi,
    AccountApi,
    SessionsApi,
    AdminUsersApi,
    AdminSessionsApi,
    ImpersonationApi,
);

type AppApis = (
    SystemApi,
    MeApi,
    WorkspacesApi,
    MembersApi,
    InvitesApi,
    RolesApi,
    DevApi,
);

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(Apis::default(), "Orbit API", env!("CARGO_PKG_VERSION")).description(
        "The Orbit SaaS starter API. Errors are `{\"error\":{\"code\",\"message\"}}` with a \
         stable `code`.",
    )
}

/// The document as `orbit openapi` prints it and `openapi.json` stores it.
pub fn spec_json() -> String {
    service().spec()
}
