use chrono::{DateTime, Utc};
use poem::Request;
use poem::http::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};
use serde_json::json;

use super::address::EmailAddress;
use super::entities::{account, session, user};
use crate::audit::{self, Action, Actor, Entry};
use crate::config::Settings;
use crate::error::{ApiError, ApiResult, unique_or_internal};
use crate::ids::new_id;
use crate::state::AppState;
use crate::workspaces::entities::member;
use crate::workspaces::events::{Change, WorkspaceEvent};
use crate::workspaces::{members, service};

pub const DEFAULT_ROLE: &str = "user";

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &EmailAddress,
) -> ApiResult<Option<user::Model>> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await
        .map_err(ApiError::internal)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ApiResult<Option<user::Model>> {
    user::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(ApiError::internal)
}

/// 400 `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL` (422 on sign-up, as better-auth answers).
pub fn already_exists(status: StatusCode) -> ApiError {
    ApiError::new(
        status,
        "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        "User already exists. Use another email.",
    )
}

/// What a new user starts with.
pub struct NewUser<'a> {
    pub email: &'a EmailAddress,
    pub name: &'a str,
    pub image: Option<String>,
    pub email_verified: bool,
    pub role: &'a str,
}

/// Inserts a user; an address already taken (even by a concurrent request) is
/// `already_exists(taken_status)`.
pub async fn create(
    db: &impl ConnectionTrait,
    new: NewUser<'_>,
    taken_status: StatusCode,
) -> ApiResult<user::Model> {
    let now = Utc::now();
    let inserted = user::ActiveModel {
        id: Set(new_id("user")),
        email: Set(new.email.as_str().to_owned()),
        name: Set(new.name.to_owned()),
        email_verified: Set(new.email_verified),
        image: Set(new.image),
        avatar_tone: Set(0),
        theme_mode: Set(None),
        theme_palette: Set(None),
        role: Set(new.role.to_owned()),
        banned: Set(false),
        ban_reason: Set(None),
        ban_expires: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await;
    inserted.map_err(|err| taken_or_internal(err, taken_status))
}

/// Saves changes to a user; an address already taken is `already_exists(taken_status)`. A
/// new name or address reaches the user's memberships (what member searches match) in the
/// same transaction.
pub async fn save(
    db: &(impl ConnectionTrait + TransactionTrait),
    changes: user::ActiveModel,
    taken_status: StatusCode,
) -> ApiResult<user::Model> {
    let taken = |err| taken_or_internal(err, taken_status);
    if !(changes.name.is_set() || changes.email.is_set()) {
        return changes.update(db).await.map_err(taken);
    }
    let tx = db.begin().await.map_err(ApiError::internal)?;
    let user = changes.update(&tx).await.map_err(taken)?;
    members::refresh_search_text(&tx, &user).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(user)
}

fn taken_or_internal(err: sea_orm::DbErr, taken_status: StatusCode) -> ApiError {
    unique_or_internal(err, || already_exists(taken_status))
}

/// Whether the user is banned now; a ban past its expiry no longer counts.
pub fn is_banned(user: &user::Model, now: DateTime<Utc>) -> bool {
    user.banned && user.ban_expires.is_none_or(|expires| expires > now)
}

/// 403 `BANNED_USER`.
pub fn banned() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "BANNED_USER",
        "You have been banned from this application. Please contact support if you believe \
         this is an error.",
    )
}

/// The user with this address, created (verified, role `user`) when new. Whoever proves
/// they read the mailbox owns the address, so an existing unverified user becomes verified,
/// and whatever someone else set up on it before that proof (a password, sessions) is
/// dropped: nobody can pre-register an address and wait for its owner to move in.
pub async fn sign_in_by_email(
    db: &impl ConnectionTrait,
    req: &Request,
    settings: &Settings,
    email: &EmailAddress,
    name: Option<&str>,
) -> ApiResult<(user::Model, bool)> {
    match find_by_email(db, email).await? {
        Some(user) if user.email_verified => Ok((user, false)),
        Some(user) => Ok((claim(db, req, settings, user, "magic-link").await?, false)),
        None => {
            let new = NewUser {
                email,
                name: name.unwrap_or_default(),
                image: None,
                email_verified: true,
                role: DEFAULT_ROLE,
            };
            Ok((create(db, new, StatusCode::CONFLICT).await?, true))
        }
    }
}

/// The unverified `user`, now that someone proved they own its address (`via`: how):
/// verified, and rid of whatever was set up on it before that proof (sign-in methods,
/// sessions); recorded as `account.claimed`.
pub async fn claim(
    db: &impl ConnectionTrait,
    req: &Request,
    settings: &Settings,
    user: user::Model,
    via: &str,
) -> ApiResult<user::Model> {
    let entry = Entry::new(Action::AccountClaimed, &user.id).with(json!({"via": via}));
    audit::record(db, &Actor::user(settings, req, &user.id), entry).await?;
    account::Entity::delete_many()
        .filter(account::Column::UserId.eq(&user.id))
        .exec(db)
        .await
        .map_err(ApiError::internal)?;
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(&user.id))
        .exec(db)
        .await
        .map_err(ApiError::internal)?;
    mark_verified(db, user).await
}

pub async fn mark_verified(db: &impl ConnectionTrait, user: user::Model) -> ApiResult<user::Model> {
    let mut active: user::ActiveModel = user.into();
    active.email_verified = Set(true);
    active.updated_at = Set(Utc::now());
    active.update(db).await.map_err(ApiError::internal)
}

/// Refuses to delete an account whose deletion would leave a workspace without an owner:
/// 409 `account.delete.sole_owner` (`GET /v1/me/owned-workspaces-blocking-delete` lists them).
pub async fn check_deletable(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<()> {
    match service::solely_owned(db, user_id).await?.is_empty() {
        true => Ok(()),
        false => Err(ApiError::conflict(
            "account.delete.sole_owner",
            "You own one or more workspaces. Transfer or delete them before deleting your account.",
        )),
    }
}

/// Deletes the user; their sessions, accounts and memberships go with them (foreign-key
/// cascade), each membership recorded (`member.left`) and announced as
/// `workspace.member.left` (which closes their sockets), the workspaces they created name another owner as creator, and their avatars
/// are deleted (through a job, once this commits).
pub async fn delete(state: &AppState, change: &mut Change, user_id: &str) -> ApiResult<()> {
    crate::uploads::forget_user(state, change, user_id).await?;
    service::hand_over(change, user_id).await?;
    let memberships = member::Entity::find()
        .filter(member::Column::UserId.eq(user_id))
        .all(&**change)
        .await
        .map_err(ApiError::internal)?;
    super::session::revoke_where(&**change, session::Column::ImpersonatedBy.eq(user_id)).await?;
    user::Entity::delete_by_id(user_id)
        .exec(&**change)
        .await
        .map_err(ApiError::internal)?;
    for membership in memberships {
        let entry = Entry::new(Action::MemberLeft, &membership.id)
            .in_workspace(&membership.workspace_id)
            .with(json!({"userId": user_id, "roleId": membership.role_id, "accountDeleted": true}));
        change.audit(entry).await?;
        change.record(WorkspaceEvent::MemberLeft {
            workspace_id: membership.workspace_id,
            member_id: membership.id,
            user_id: user_id.to_owned(),
        });
    }
    Ok(())
}
