use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::password::check_current_password;
use crate::audit::{Action, Entry};
use crate::auth::address::EmailAddress;
use crate::auth::dto::{AuthSession, Status};
use crate::auth::entities::{account, user};
use crate::auth::links::{api_link, with_query};
use crate::auth::origin::{check_callbacks, resolve_optional_callback};
use crate::auth::password::Password;
use crate::auth::session::{self, Authenticated, CurrentSession};
use crate::auth::verifications::{self, Purpose};
use crate::auth::{email_verification, emails, throttle, users};
use crate::error::{ApiError, AuthResult};
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::time::iso;
use crate::workspaces::events::Change;

const DELETE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Default)]
pub struct AccountApi;

#[derive(Debug, Object)]
struct UpdateUser {
    #[oai(nullable)]
    name: Option<Text<128, 1>>,
    /// An avatar URL; `null` removes it.
    #[oai(nullable)]
    image: MaybeUndefined<Text<2048>>,
    /// Refused (400 `EMAIL_CAN_NOT_BE_UPDATED`): use `change-email`.
    #[oai(nullable)]
    email: Option<Text<254>>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct ChangeEmail {
    new_email: EmailAddress,
    /// Where the confirmation link lands: relative, or on a trusted origin.
    #[oai(nullable, rename = "callbackURL")]
    callback_url: Option<Text<2048>>,
}

#[derive(Debug, Object)]
struct DeleteUser {
    /// Where the confirmation link lands once the account is deleted.
    #[oai(nullable, rename = "callbackURL")]
    callback_url: Option<Text<2048>>,
    /// Checked when given (400 `INVALID_PASSWORD`).
    #[oai(nullable)]
    password: Option<Password>,
    /// The token of a mailed confirmation link: deletes at once.
    #[oai(nullable)]
    token: Option<Text<128>>,
}

#[derive(Debug, Object)]
#[oai(rename = "AuthSuccessMessage")]
struct SuccessMessage {
    success: bool,
    message: String,
}

#[derive(ApiResponse)]
enum DeleteCallbackResponse {
    /// Deleted (no `callbackURL` given).
    #[oai(status = 200)]
    Deleted(Json<SuccessMessage>),
    /// Deleted and sent on to `callbackURL`, or sent there with `?error=INVALID_TOKEN`.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
}

/// A way of signing in linked to the user; secrets are never shown.
#[derive(Debug, Object)]
#[oai(rename = "AuthAccount", rename_all = "camelCase")]
struct AccountDto {
    id: String,
    /// `credential` (password) or an OAuth provider.
    provider_id: String,
    account_id: String,
    user_id: String,
    scopes: Vec<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Object)]
#[oai(rename = "AccountInfo")]
struct AccountInfo {
    user: AccountUser,
    /// The provider's raw profile (empty for a password account).
    data: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", nullable_all)]
struct AccountUser {
    id: String,
    name: String,
    email: String,
    image: Option<String>,
    email_verified: bool,
}

#[derive(Debug, Object)]
#[oai(rename = "UpdatedSession")]
struct UpdatedSession {
    session: AuthSession,
}

/// What a delete-account link grants.
#[derive(Debug, Serialize, Deserialize)]
struct DeleteGrant {
    user_id: String,
}

/// Session fields the server owns; better-auth refuses them in `update-session`.
const CORE_SESSION_FIELDS: [&str; 8] = [
    "id",
    "token",
    "userId",
    "expiresAt",
    "createdAt",
    "updatedAt",
    "ipAddress",
    "userAgent",
];

fn bad_request(code: &'static str, message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AccountApi {
    /// Update the caller's name or avatar
    ///
    /// 400 `EMAIL_CAN_NOT_BE_UPDATED` with an `email` (use `change-email`),
    /// 400 `NO_FIELDS_TO_UPDATE` with nothing to change.
    #[oai(
        path = "/v1/auth/update-user",
        method = "post",
        operation_id = "updateUser"
    )]
    async fn update_user(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        body: Json<UpdateUser>,
    ) -> AuthResult<Json<Status>> {
        if body.email.is_some() {
            return Err(bad_request("EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated").into());
        }
        let mut active: user::ActiveModel = caller.0.user.into();
        if let Some(name) = &body.name {
            active.name = Set(name.trim().to_owned());
        }
        if !body.image.is_undefined() {
            active.image = Set(body.image.clone().take().map(Text::into_string));
        }
        if !active.is_changed() {
            return Err(bad_request("NO_FIELDS_TO_UPDATE", "No fields to update").into());
        }
        active.updated_at = Set(Utc::now());
        users::save(&state.db, active, StatusCode::BAD_REQUEST).await?;
        Ok(Json(Status { status: true }))
    }

    /// Move the account to another address
    ///
    /// Mails a confirmation link to the new address; following it makes the swap. Always
    /// `{"status":true}` once the request is valid, even when the address is taken (then no
    /// mail goes out): the answer never reveals who has an account.
    #[oai(
        path = "/v1/auth/change-email",
        method = "post",
        operation_id = "changeEmail"
    )]
    async fn change_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<ChangeEmail>,
    ) -> AuthResult<Json<Status>> {
        let current = caller.0;
        let new_email = &body.new_email;
        check_callbacks(&state.settings, [body.callback_url.as_deref()])?;
        if new_email.as_str() == current.user.email {
            return Err(bad_request("EMAIL_IS_THE_SAME", "Email is the same").into());
        }
        throttle::check(&state, req, throttle::MAIL, new_email).await?;
        if users::find_by_email(&state.db, new_email).await?.is_none() {
            let callback = body.callback_url.as_deref();
            email_verification::send_change(&state, &current.user, new_email.as_str(), callback)
                .await?;
        }
        Ok(Json(Status { status: true }))
    }

    /// Delete the caller's account
    ///
    /// Mails a confirmation link (`delete-user/callback`) and answers
    /// `"Verification email sent"`; with the `token` of such a link, deletes at once.
    /// 409 `account.delete.sole_owner` while the user is the only owner of a workspace.
    #[oai(
        path = "/v1/auth/delete-user",
        method = "post",
        operation_id = "deleteUser"
    )]
    async fn delete_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<DeleteUser>,
    ) -> AuthResult<Json<SuccessMessage>> {
        let current = caller.0;
        check_callbacks(&state.settings, [body.callback_url.as_deref()])?;
        if let Some(password) = &body.password {
            check_current_password(&state, req, &current, password).await?;
        }
        if let Some(token) = &body.token {
            return match delete_with_token(&state, req, &current, token).await? {
                true => Ok(Json(deleted())),
                false => Err(invalid_token(StatusCode::BAD_REQUEST).into()),
            };
        }
        users::check_deletable(&state.db, &current.user.id).await?;
        let email = EmailAddress::parse(&current.user.email)?;
        throttle::check(&state, req, throttle::MAIL, &email).await?;
        let grant = DeleteGrant {
            user_id: current.user.id.clone(),
        };
        let callback = body.callback_url.as_deref().unwrap_or("/");
        emails::mail_token(
            &state,
            Purpose::DeleteAccount,
            &grant,
            DELETE_TTL,
            |token| {
                let link = api_link(
                    &state.settings,
                    "/v1/auth/delete-user/callback",
                    &[("token", token), ("callbackURL", callback)],
                );
                emails::delete_account(&current.user.email, &link)
            },
        )
        .await?;
        Ok(Json(SuccessMessage {
            success: true,
            message: "Verification email sent".to_owned(),
        }))
    }

    /// Delete the account from a mailed link
    ///
    /// Needs the session of the account the link was sent to. Deletes the user with their
    /// sessions and accounts, clears the cookies and redirects to `callbackURL` (JSON without
    /// one); a bad link redirects with `?error=INVALID_TOKEN` (404 JSON without one).
    #[oai(
        path = "/v1/auth/delete-user/callback",
        method = "get",
        operation_id = "deleteUserCallback"
    )]
    async fn delete_callback(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        #[oai(validator(max_length = 128))] token: Query<String>,
        #[oai(name = "callbackURL", validator(max_length = 2048))] callback_url: Query<
            Option<String>,
        >,
    ) -> AuthResult<DeleteCallbackResponse> {
        let callback = resolve_optional_callback(&state.settings, callback_url.0.as_deref())?;
        let deleted_now = delete_with_token(&state, req, &caller.0, &token).await?;
        match (deleted_now, callback) {
            (true, Some(callback)) => Ok(DeleteCallbackResponse::Found(callback)),
            (true, None) => Ok(DeleteCallbackResponse::Deleted(Json(deleted()))),
            (false, Some(callback)) => Ok(DeleteCallbackResponse::Found(with_query(
                &callback,
                "error",
                "INVALID_TOKEN",
            ))),
            (false, None) => Err(invalid_token(StatusCode::NOT_FOUND).into()),
        }
    }

    /// The caller's sign-in methods
    #[oai(
        path = "/v1/auth/list-accounts",
        method = "get",
        operation_id = "listUserAccounts"
    )]
    async fn list_accounts(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
    ) -> AuthResult<Json<Vec<AccountDto>>> {
        let rows = account::Entity::find()
            .filter(account::Column::UserId.eq(&caller.0.user.id))
            .order_by_asc(account::Column::CreatedAt)
            .all(&state.db)
            .await
            .map_err(ApiError::internal)?;
        Ok(Json(rows.into_iter().map(AccountDto::from).collect()))
    }

    /// Remove a sign-in method
    ///
    /// `providerId` (and `accountId` when the caller has several with that provider). Never
    /// the last one: 400 `FAILED_TO_UNLINK_LAST_ACCOUNT`; 400 `ACCOUNT_NOT_FOUND` for one the
    /// caller does not have.
    #[oai(
        path = "/v1/auth/unlink-account",
        method = "post",
        operation_id = "unlinkAccount"
    )]
    async fn unlink_account(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        body: Json<UnlinkAccount>,
    ) -> AuthResult<Json<Status>> {
        let tx = crate::db::begin_write(&state.db)
            .await
            .map_err(ApiError::internal)?;
        let accounts = account::Entity::find()
            .filter(account::Column::UserId.eq(&caller.0.user.id))
            .all(&tx)
            .await
            .map_err(ApiError::internal)?;
        let target = accounts.iter().find(|found| {
            found.provider_id == body.provider_id.as_str()
                && body
                    .account_id
                    .as_deref()
                    .is_none_or(|id| found.account_id == id)
        });
        let Some(target) = target else {
            return Err(bad_request("ACCOUNT_NOT_FOUND", "Account not found").into());
        };
        if accounts.len() == 1 {
            let message = "You cannot unlink your last account";
            return Err(bad_request("FAILED_TO_UNLINK_LAST_ACCOUNT", message).into());
        }
        account::Entity::delete_by_id(target.id.clone())
            .exec(&tx)
            .await
            .map_err(ApiError::internal)?;
        tx.commit().await.map_err(ApiError::internal)?;
        Ok(Json(Status { status: true }))
    }

    /// What a sign-in method knows about the caller
    ///
    /// `accountId` as `list-accounts` shows it. 400 `ACCOUNT_NOT_FOUND` for an account that
    /// is not the caller's.
    #[oai(
        path = "/v1/auth/account-info",
        method = "get",
        operation_id = "accountInfo"
    )]
    async fn account_info(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        #[oai(name = "accountId", validator(max_length = 255))] account_id: Query<String>,
    ) -> AuthResult<Json<AccountInfo>> {
        let user = caller.0.user;
        let found = account::Entity::find()
            .filter(account::Column::UserId.eq(&user.id))
            .filter(account::Column::AccountId.eq(&account_id.0))
            .one(&state.db)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| bad_request("ACCOUNT_NOT_FOUND", "Account not found"))?;
        Ok(Json(AccountInfo {
            user: AccountUser {
                id: found.account_id,
                name: user.name,
                email: user.email,
                image: user.image,
                email_verified: user.email_verified,
            },
            data: BTreeMap::new(),
        }))
    }

    /// Update custom fields of the current session
    ///
    /// This API defines no custom session fields, so, as better-auth does then, it refuses
    /// core fields (400 `FIELD_NOT_ALLOWED`) and answers 400 `NO_FIELDS_TO_UPDATE` otherwise.
    #[oai(
        path = "/v1/auth/update-session",
        method = "post",
        operation_id = "updateSession"
    )]
    async fn update_session(
        &self,
        _caller: Authenticated,
        body: Json<BTreeMap<String, serde_json::Value>>,
    ) -> AuthResult<Json<UpdatedSession>> {
        let core: Vec<&str> = CORE_SESSION_FIELDS
            .into_iter()
            .filter(|field| body.contains_key(*field))
            .collect();
        if !core.is_empty() {
            let message = format!("Cannot update core session field(s): {}", core.join(", "));
            return Err(bad_request("FIELD_NOT_ALLOWED", message).into());
        }
        Err(bad_request("NO_FIELDS_TO_UPDATE", "No fields to update").into())
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct UnlinkAccount {
    provider_id: Text<32, 1>,
    account_id: Option<Text<255, 1>>,
}

fn deleted() -> SuccessMessage {
    SuccessMessage {
        success: true,
        message: "User deleted".to_owned(),
    }
}

fn invalid_token(status: StatusCode) -> ApiError {
    ApiError::new(status, "INVALID_TOKEN", "Invalid token")
}

/// Deletes the caller's account if `token` is a live delete link for it; false when it is not.
async fn delete_with_token(
    state: &AppState,
    req: &Request,
    caller: &CurrentSession,
    token: &str,
) -> Result<bool, ApiError> {
    let user_id = caller.user.id.as_str();
    let mut change = Change::by_caller(state, req, caller).await?;
    let grant =
        verifications::consume::<DeleteGrant>(&*change, Purpose::DeleteAccount, token).await?;
    if grant.is_none_or(|grant| grant.user_id != user_id) {
        return Ok(false);
    }
    users::check_deletable(&*change, user_id).await?;
    users::delete(state, &mut change, user_id).await?;
    let data = json!({"email": caller.user.email});
    let entry = Entry::new(Action::AccountDeleted, user_id).with(data);
    change.audit(entry).await?;
    change.commit(state).await?;
    session::clear_session_cookies(state, req);
    Ok(true)
}

impl From<account::Model> for AccountDto {
    fn from(row: account::Model) -> Self {
        Self {
            id: row.id,
            provider_id: row.provider_id,
            account_id: row.account_id,
            user_id: row.user_id,
            scopes: row
                .scope
                .map(|scope| scope.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            created_at: iso(row.created_at),
            updated_at: iso(row.updated_at),
        }
    }
}
