//! The OpenAPI document: every route of the API is an operation of this service.

use poem_openapi::{OpenApi, OpenApiService, Tags};

use crate::audit::api::AuditApi;
use crate::auth::api::account::AccountApi;
use crate::auth::api::admin::{
    impersonation::ImpersonationApi, sessions::AdminSessionsApi, user_list::AdminUserListApi,
    users::AdminUsersApi,
};
use crate::auth::api::email_password::EmailPasswordApi;
use crate::auth::api::password::PasswordApi;
use crate::auth::api::{magic_link::MagicLinkApi, sessions::SessionsApi, social::SocialApi};
use crate::billing::{api::BillingApi, webhooks::BillingWebhookApi};
use crate::dev::api::DevApi;
use crate::jobs::api::JobsApi;
use crate::me::api::MeApi;
use crate::system::api::SystemApi;
use crate::uploads::{api::UploadsApi, avatar::AvatarApi};
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
    /// Managing users and their sessions (better-auth's admin plugin), the background job
    /// queue and the audit log (role `admin`)
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
    /// Plans and each workspace's subscription (`enabled: false` and 409
    /// `billing.provider_not_configured` without a provider)
    #[oai(rename = "billing")]
    Billing,
    /// Files in object storage: a workspace's, and avatars (501 `uploads.not_configured`
    /// without a bucket)
    #[oai(rename = "uploads")]
    Uploads,
    /// Development helpers (not mounted in production)
    Dev,
}

/// Every API a production process serves, in two groups (std's `Default` stops at 12-tuples).
pub type Apis = (AuthApis, AppApis);

/// What a development or test process serves: [`Apis`] and the development helpers.
pub type DevelopmentApis = (Apis, DevApi);

type AuthApis = (
    MagicLinkApi,
    SocialApi,
    EmailPasswordApi,
    PasswordApi,
    AccountApi,
    SessionsApi,
    AdminUsersApi,
    AdminUserListApi,
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
    JobsApi,
    UploadsApi,
    AvatarApi,
    BillingApi,
    BillingWebhookApi,
    AuditApi,
);

/// The API a development process serves (and `openapi.json` documents).
pub fn service() -> OpenApiService<DevelopmentApis, ()> {
    service_of(DevelopmentApis::default())
}

/// The API a production process serves: no development helpers, mounted or documented.
pub fn production_service() -> OpenApiService<Apis, ()> {
    service_of(Apis::default())
}

fn service_of<T: OpenApi>(apis: T) -> OpenApiService<T, ()> {
    OpenApiService::new(apis, "Orbit API", env!("CARGO_PKG_VERSION")).description(
        "The Orbit SaaS starter API. Errors are `{\"error\":{\"code\",\"message\"}}` with a \
         stable `code`. No string may contain U+0000 (400 `validation`).",
    )
}

/// The document as `orbit openapi` prints it and `openapi.json` stores it.
pub fn spec_json() -> String {
    service().spec()
}
