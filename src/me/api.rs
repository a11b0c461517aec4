use chrono::Utc;
use poem::web::Data;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, payload::Json};
use sea_orm::{ActiveModelTrait, Set};

use crate::auth::entities::user;
use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::time::iso;
use crate::workspaces::dto::SystemKey;
use crate::workspaces::service;

#[derive(Default)]
pub struct MeApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ThemeMode {
    Light,
    Dark,
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ThemePalette {
    Graphite,
    Indigo,
    Crimson,
    Sage,
    Amber,
    Violet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum UserRole {
    Admin,
    User,
}

/// The user as the Orbit web client shows them.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", nullable_all)]
pub struct UserDto {
    pub id: String,
    pub email: String,
    pub name: String,
    /// 0–5, picks the avatar colour.
    pub avatar_tone: i32,
    pub created_at: String,
    pub theme_mode: Option<ThemeMode>,
    pub theme_palette: Option<ThemePalette>,
    /// `null` while the user is banned.
    pub role: Option<UserRole>,
    /// The admin acting as this user, during impersonation.
    pub impersonated_by: Option<String>,
}

/// A workspace the user belongs to.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", nullable_all)]
pub struct MyWorkspace {
    pub id: String,
    pub member_id: String,
    pub slug: String,
    pub name: String,
    pub role_name: String,
    pub role_system_key: Option<SystemKey>,
}

#[derive(Debug, Object)]
struct WorkspaceRef {
    id: String,
    name: String,
    slug: String,
}

#[derive(Debug, Object)]
struct BlockingWorkspaces {
    workspaces: Vec<WorkspaceRef>,
}

#[derive(Debug, Object)]
struct Me {
    user: UserDto,
    workspaces: Vec<MyWorkspace>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct PreferencesPatch {
    /// Omit to keep, `null` to clear.
    #[oai(nullable)]
    theme_mode: MaybeUndefined<ThemeMode>,
    /// Omit to keep, `null` to clear.
    #[oai(nullable)]
    theme_palette: MaybeUndefined<ThemePalette>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", nullable_all)]
struct Preferences {
    theme_mode: Option<ThemeMode>,
    theme_palette: Option<ThemePalette>,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "invalid_preferences")]
enum PreferencesResponse {
    /// The preferences as stored.
    #[oai(status = 200)]
    Saved(Json<Preferences>),
    /// Not JSON, or an unknown theme value: 422 `validation`, as the Orbit API answers.
    #[oai(status = 422)]
    Invalid(Json<ErrorEnvelope>),
    /// Refused before the body was read (no session: 401).
    Refused(poem::http::StatusCode, Json<ErrorEnvelope>),
}

/// Body problems are 422 on this route; anything else keeps its own status.
fn invalid_preferences(err: poem::Error) -> PreferencesResponse {
    let body_problem = err.is::<poem_openapi::error::ParseRequestPayloadError>()
        || err.is::<poem_openapi::error::ContentTypeError>();
    match body_problem {
        true => {
            PreferencesResponse::Invalid(Json(ApiError::unprocessable(err.to_string()).envelope()))
        }
        false => {
            let error = ApiError::from_poem(err);
            PreferencesResponse::Refused(error.status(), Json(error.envelope()))
        }
    }
}

fn parse_enum<T: poem_openapi::types::ParseFromJSON>(stored: Option<&str>) -> Option<T> {
    stored.and_then(|value| T::parse_from_json(Some(serde_json::Value::from(value))).ok())
}

fn to_stored<T: poem_openapi::types::ToJSON>(value: Option<T>) -> Option<String> {
    value
        .and_then(|value| value.to_json())
        .and_then(|json| json.as_str().map(str::to_owned))
}

impl UserDto {
    pub fn new(user: &user::Model, impersonated_by: Option<String>) -> Self {
        Self {
            id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            avatar_tone: user.avatar_tone.into(),
            created_at: iso(user.created_at),
            theme_mode: parse_enum(user.theme_mode.as_deref()),
            theme_palette: parse_enum(user.theme_palette.as_deref()),
            role: match user.banned {
                true => None,
                false => parse_enum(Some(&user.role)),
            },
            impersonated_by,
        }
    }
}

#[OpenApi(tag = "ApiTags::Me")]
impl MeApi {
    /// The signed-in user and their workspaces
    #[oai(path = "/v1/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&AppState>, caller: Authenticated) -> ApiResult<Json<Me>> {
        let current = caller.0;
        let workspaces = service::memberships(&state.db, &current.user.id)
            .await?
            .into_iter()
            .map(|membership| MyWorkspace {
                role_system_key: SystemKey::from_stored(membership.role_system_key.as_deref()),
                id: membership.workspace_id,
                member_id: membership.member_id,
                slug: membership.slug,
                name: membership.name,
                role_name: membership.role_name,
            })
            .collect();
        Ok(Json(Me {
            user: UserDto::new(&current.user, current.session.impersonated_by),
            workspaces,
        }))
    }

    /// The workspaces you are the only owner of: your account cannot be deleted until each
    /// has another owner or is deleted
    #[oai(
        path = "/v1/me/owned-workspaces-blocking-delete",
        method = "get",
        operation_id = "getOwnedWorkspacesBlockingDelete"
    )]
    async fn owned_workspaces_blocking_delete(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
    ) -> ApiResult<Json<BlockingWorkspaces>> {
        let workspaces = service::solely_owned(&state.db, &caller.0.user.id)
            .await?
            .into_iter()
            .map(|membership| WorkspaceRef {
                id: membership.workspace_id,
                name: membership.name,
                slug: membership.slug,
            })
            .collect();
        Ok(Json(BlockingWorkspaces { workspaces }))
    }

    /// Change theme preferences
    #[oai(
        path = "/v1/me/preferences",
        method = "patch",
        operation_id = "updatePreferences"
    )]
    async fn update_preferences(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        body: Json<PreferencesPatch>,
    ) -> ApiResult<PreferencesResponse> {
        let user = caller.0.user;
        let mut active: user::ActiveModel = user.clone().into();
        if !body.theme_mode.is_undefined() {
            active.theme_mode = Set(to_stored(body.theme_mode.value().copied()));
        }
        if !body.theme_palette.is_undefined() {
            active.theme_palette = Set(to_stored(body.theme_palette.value().copied()));
        }
        active.updated_at = Set(Utc::now());
        let user = active.update(&state.db).await.map_err(ApiError::internal)?;
        Ok(PreferencesResponse::Saved(Json(Preferences {
            theme_mode: parse_enum(user.theme_mode.as_deref()),
            theme_palette: parse_enum(user.theme_palette.as_deref()),
        })))
    }
}
