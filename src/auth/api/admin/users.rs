use std::collections::BTreeMap;

use chrono::Utc;
use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi, payload::Json};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use super::{UserRef, UserResult, bad_request, require, target};
use crate::audit::{Action, Entry};
use crate::auth::address::EmailAddress;
use crate::auth::dto::{AuthUser, Status};
use crate::auth::entities::user;
use crate::auth::password::{NewPassword, Password};
use crate::auth::session::{self, Authenticated};
use crate::auth::{credentials, password, permissions, users};
use crate::error::{ApiError, AuthResult};
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::time::iso;
use crate::workspaces::events::Change;

#[derive(Default)]
pub struct AdminUsersApi;

/// Optional profile fields of a new user.
#[derive(Debug, Object)]
#[oai(rename = "AdminNewUserData", rename_all = "camelCase")]
struct NewUserData {
    #[oai(nullable)]
    email_verified: Option<bool>,
    #[oai(nullable)]
    image: Option<Text<2048>>,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminCreateUser")]
struct CreateUser {
    email: EmailAddress,
    /// Without one the user signs in by magic link.
    #[oai(nullable)]
    password: Option<NewPassword>,
    name: Text<128>,
    /// `user` (default) or `admin`.
    #[oai(nullable)]
    role: Option<Text<64>>,
    #[oai(nullable)]
    data: Option<NewUserData>,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminUserChanges", rename_all = "camelCase")]
struct UserChanges {
    #[oai(nullable)]
    name: Option<Text<128, 1>>,
    #[oai(nullable)]
    email: Option<EmailAddress>,
    /// `null` removes it.
    #[oai(nullable)]
    image: MaybeUndefined<Text<2048>>,
    #[oai(nullable)]
    email_verified: Option<bool>,
    #[oai(nullable)]
    role: Option<Text<64>>,
    /// Refused: use `set-user-password`.
    #[oai(nullable)]
    password: Option<Password>,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminUpdateUser", rename_all = "camelCase")]
struct UpdateUser {
    user_id: Text<64, 1>,
    data: UserChanges,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminSetRole", rename_all = "camelCase")]
struct SetRole {
    user_id: Text<64, 1>,
    role: Text<64>,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminSetPassword", rename_all = "camelCase")]
struct SetPassword {
    user_id: Text<64, 1>,
    new_password: NewPassword,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminBanUser", rename_all = "camelCase")]
struct BanUser {
    user_id: Text<64, 1>,
    /// Shown to nobody but admins; default "No reason".
    #[oai(nullable)]
    ban_reason: Option<Text<512>>,
    /// Seconds until the ban lifts by itself; permanent without.
    #[oai(
        nullable,
        validator(minimum(value = "1"), maximum(value = "315360000"))
    )]
    ban_expires_in: Option<i64>,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminPermissionCheck")]
struct PermissionCheck {
    /// `{"user": ["ban", "list"], "session": ["revoke"]}`: all must be granted.
    permissions: BTreeMap<String, Vec<Text<64>>>,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminPermissionResult", nullable_all)]
struct PermissionResult {
    error: Option<String>,
    success: bool,
}

fn unknown_role() -> ApiError {
    bad_request(
        "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE",
        "You are not allowed to set a non-existent role value",
    )
}

/// A role value from a request: known roles only, comma-separated, trimmed.
fn parse_role(raw: &str) -> Result<String, ApiError> {
    let role = raw.split(',').map(str::trim).collect::<Vec<_>>().join(",");
    match permissions::known(&role) {
        true => Ok(role),
        false => Err(unknown_role()),
    }
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminUsersApi {
    /// One user
    #[oai(
        path = "/v1/auth/admin/get-user",
        method = "get",
        operation_id = "getUser"
    )]
    async fn get_user(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        #[oai(validator(max_length = 64))] id: Query<String>,
    ) -> AuthResult<Json<AuthUser>> {
        require(&caller.0, "user", "get", "YOU_ARE_NOT_ALLOWED_TO_GET_USER")?;
        let user = target(&state.db, &id).await?;
        Ok(Json(AuthUser::from(&user)))
    }

    /// Create a user
    ///
    /// 400 `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL` when the address is taken.
    #[oai(
        path = "/v1/auth/admin/create-user",
        method = "post",
        operation_id = "createUser"
    )]
    async fn create_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<CreateUser>,
    ) -> AuthResult<Json<UserResult>> {
        require(
            &caller.0,
            "user",
            "create",
            "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS",
        )?;
        let body = body.0;
        let email = &body.email;
        let role = match &body.role {
            Some(role) => parse_role(role)?,
            None => users::DEFAULT_ROLE.to_owned(),
        };
        let hash = match &body.password {
            Some(password) => Some(password::hash(password.checked()?).await?),
            None => None,
        };
        let data = body.data.unwrap_or(NewUserData {
            email_verified: None,
            image: None,
        });
        let change = Change::by_caller(&state, req, &caller.0).await?;
        let new = users::NewUser {
            email,
            name: body.name.trim(),
            image: data.image.map(Text::into_string),
            email_verified: data.email_verified.unwrap_or(false),
            role: &role,
        };
        let user = users::create(&*change, new, StatusCode::BAD_REQUEST).await?;
        let with_password = hash.is_some();
        if let Some(hash) = hash {
            credentials::set_hash(&*change, &user.id, hash).await?;
        }
        let data = json!({"email": user.email, "role": user.role, "withPassword": with_password});
        change
            .audit(Entry::new(Action::UserCreated, &user.id).with(data))
            .await?;
        change.commit(&state).await?;
        Ok(Json(UserResult::from(&user)))
    }

    /// Change a user's profile, address or role
    ///
    /// Answers the user itself. 400 `NO_DATA_TO_UPDATE`; passwords go through
    /// `set-user-password` (400 `PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER`).
    #[oai(
        path = "/v1/auth/admin/update-user",
        method = "post",
        operation_id = "adminUpdateUser"
    )]
    async fn update_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<UpdateUser>,
    ) -> AuthResult<Json<AuthUser>> {
        let caller = caller.0;
        require(
            &caller,
            "user",
            "update",
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS",
        )?;
        let changes = &body.data;
        if changes.password.is_some() {
            return Err(bad_request(
                "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
                "Password cannot be updated through update-user. Use the set-user-password \
                 endpoint instead",
            )
            .into());
        }
        let user = target(&state.db, &body.user_id).await?;
        let mut active: user::ActiveModel = user.into();
        if let Some(name) = &changes.name {
            active.name = Set(name.trim().to_owned());
        }
        if !changes.image.is_undefined() {
            active.image = Set(changes.image.clone().take().map(Text::into_string));
        }
        if let Some(verified) = changes.email_verified {
            active.email_verified = Set(verified);
        }
        if let Some(role) = &changes.role {
            require(
                &caller,
                "user",
                "set-role",
                "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE",
            )?;
            active.role = Set(parse_role(role)?);
        }
        if let Some(email) = &changes.email {
            require(
                &caller,
                "user",
                "set-email",
                "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL",
            )?;
            let taken = users::find_by_email(&state.db, email).await?;
            if taken.is_some_and(|other| other.id != body.user_id.as_str()) {
                return Err(users::already_exists(StatusCode::BAD_REQUEST).into());
            }
            active.email = Set(email.as_str().to_owned());
        }
        if !active.is_changed() {
            return Err(bad_request("NO_DATA_TO_UPDATE", "No data to update").into());
        }
        let fields: Vec<&str> = [
            ("name", active.name.is_set()),
            ("image", active.image.is_set()),
            ("emailVerified", active.email_verified.is_set()),
            ("role", active.role.is_set()),
            ("email", active.email.is_set()),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect();
        active.updated_at = Set(Utc::now());
        let change = Change::by_caller(&state, req, &caller).await?;
        let user = users::save(&*change, active, StatusCode::BAD_REQUEST).await?;
        if changes.role.is_some() {
            session::end_lapsed_impersonations(&*change, &user).await?;
        }
        let data = json!({"fields": fields, "role": user.role, "email": user.email});
        change
            .audit(Entry::new(Action::UserUpdated, &user.id).with(data))
            .await?;
        change.commit(&state).await?;
        Ok(Json(AuthUser::from(&user)))
    }

    /// Set a user's role
    #[oai(
        path = "/v1/auth/admin/set-role",
        method = "post",
        operation_id = "setRole"
    )]
    async fn set_role(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<SetRole>,
    ) -> AuthResult<Json<UserResult>> {
        require(
            &caller.0,
            "user",
            "set-role",
            "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE",
        )?;
        let role = parse_role(&body.role)?;
        let change = Change::by_caller(&state, req, &caller.0).await?;
        let before = target(&*change, &body.user_id).await?;
        let previous = before.role.clone();
        let mut active: user::ActiveModel = before.into();
        active.role = Set(role);
        active.updated_at = Set(Utc::now());
        let user = active.update(&*change).await.map_err(ApiError::internal)?;
        session::end_lapsed_impersonations(&*change, &user).await?;
        let data = json!({"previous": previous, "current": user.role});
        change
            .audit(Entry::new(Action::UserRoleSet, &user.id).with(data))
            .await?;
        change.commit(&state).await?;
        Ok(Json(UserResult::from(&user)))
    }

    /// Set a user's password
    #[oai(
        path = "/v1/auth/admin/set-user-password",
        method = "post",
        operation_id = "setUserPassword"
    )]
    async fn set_user_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<SetPassword>,
    ) -> AuthResult<Json<Status>> {
        require(
            &caller.0,
            "user",
            "set-password",
            "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD",
        )?;
        let chosen = body.new_password.checked()?;
        let user = target(&state.db, &body.user_id).await?;
        let hash = password::hash(chosen).await?;
        let change = Change::by_caller(&state, req, &caller.0).await?;
        credentials::set_hash(&*change, &user.id, hash).await?;
        change
            .audit(Entry::new(Action::UserPasswordSet, &user.id))
            .await?;
        change.commit(&state).await?;
        Ok(Json(Status { status: true }))
    }

    /// Ban a user
    ///
    /// Ends all their sessions; they cannot sign in until unbanned or `banExpiresIn` passes
    /// (their magic links land on `${WEB_ORIGIN}/banned`). 400 `YOU_CANNOT_BAN_YOURSELF`.
    #[oai(
        path = "/v1/auth/admin/ban-user",
        method = "post",
        operation_id = "banUser"
    )]
    async fn ban_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<BanUser>,
    ) -> AuthResult<Json<UserResult>> {
        let caller = caller.0;
        require(&caller, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")?;
        if body.user_id.as_str() == caller.user.id {
            return Err(bad_request("YOU_CANNOT_BAN_YOURSELF", "You cannot ban yourself").into());
        }
        let change = Change::by_caller(&state, req, &caller).await?;
        let mut active: user::ActiveModel = target(&*change, &body.user_id).await?.into();
        let now = Utc::now();
        active.banned = Set(true);
        active.ban_reason = Set(Some(
            body.ban_reason
                .clone()
                .map_or_else(|| "No reason".to_owned(), Text::into_string),
        ));
        active.ban_expires = Set(body
            .ban_expires_in
            .map(|seconds| now + chrono::Duration::seconds(seconds)));
        active.updated_at = Set(now);
        let user = active.update(&*change).await.map_err(ApiError::internal)?;
        session::revoke_where(&*change, session::of_user_or_opened_by(&user.id)).await?;
        let data = json!({"reason": user.ban_reason, "expiresAt": user.ban_expires.map(iso)});
        change
            .audit(Entry::new(Action::UserBanned, &user.id).with(data))
            .await?;
        change.commit(&state).await?;
        Ok(Json(UserResult::from(&user)))
    }

    /// Lift a user's ban
    #[oai(
        path = "/v1/auth/admin/unban-user",
        method = "post",
        operation_id = "unbanUser"
    )]
    async fn unban_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<UserRef>,
    ) -> AuthResult<Json<UserResult>> {
        require(&caller.0, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")?;
        let change = Change::by_caller(&state, req, &caller.0).await?;
        let mut active: user::ActiveModel = target(&*change, &body.user_id).await?.into();
        active.banned = Set(false);
        active.ban_reason = Set(None);
        active.ban_expires = Set(None);
        active.updated_at = Set(Utc::now());
        let user = active.update(&*change).await.map_err(ApiError::internal)?;
        change
            .audit(Entry::new(Action::UserUnbanned, &user.id))
            .await?;
        change.commit(&state).await?;
        Ok(Json(UserResult::from(&user)))
    }

    /// Delete a user
    ///
    /// With their sessions and accounts. 400 `YOU_CANNOT_REMOVE_YOURSELF`.
    #[oai(
        path = "/v1/auth/admin/remove-user",
        method = "post",
        operation_id = "removeUser"
    )]
    async fn remove_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<UserRef>,
    ) -> AuthResult<Json<crate::auth::dto::Success>> {
        let caller = caller.0;
        require(
            &caller,
            "user",
            "delete",
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS",
        )?;
        if body.user_id.as_str() == caller.user.id {
            return Err(
                bad_request("YOU_CANNOT_REMOVE_YOURSELF", "You cannot remove yourself").into(),
            );
        }
        let user = target(&state.db, &body.user_id).await?;
        let mut change = Change::by_caller(&state, req, &caller).await?;
        users::check_deletable(&*change, &user.id).await?;
        users::delete(&state, &mut change, &user.id).await?;
        let data = json!({"email": user.email});
        change
            .audit(Entry::new(Action::UserRemoved, &user.id).with(data))
            .await?;
        change.commit(&state).await?;
        Ok(Json(crate::auth::dto::Success { success: true }))
    }

    /// Whether the caller's role grants these permissions
    #[oai(
        path = "/v1/auth/admin/has-permission",
        method = "post",
        operation_id = "userHasPermission"
    )]
    async fn has_permission(
        &self,
        caller: Authenticated,
        body: Json<PermissionCheck>,
    ) -> AuthResult<Json<PermissionResult>> {
        if body.permissions.is_empty() {
            return Err(bad_request(
                "INVALID_PERMISSION_CHECK",
                "invalid permission check. no permission(s) were passed.",
            )
            .into());
        }
        let role = &caller.0.user.role;
        let success = body.permissions.iter().all(|(resource, actions)| {
            actions
                .iter()
                .all(|action| permissions::allows(role, resource, action))
        });
        Ok(Json(PermissionResult {
            error: None,
            success,
        }))
    }
}
