//! Sessions: created at sign-in, found from the cookie (or a bearer token), slid forward
//! while in use, revoked by deleting the row.

use chrono::{DateTime, Utc};
use poem::http::header;
use poem::{FromRequest, Request, RequestBody};
use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use secrecy::ExposeSecret;

use super::cookies::{self, SESSION_TTL};
use super::entities::{session, user};
use super::origin::bearer_token;
use super::tokens::{hash_token, random_token, sign, verify_signed};
use super::{permissions, users};
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::{PageRequest, past, time_key};
use crate::http::request_context::RequestContext;
use crate::ids::new_id;
use crate::state::AppState;

/// Sessions are pushed forward at most once a day, so most requests only read.
const REFRESH_AFTER: chrono::Duration = chrono::Duration::days(1);
/// How long a session opened with `rememberMe: false` lasts (its cookie ends with the browser).
pub const DONT_REMEMBER_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// The signed-in caller.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub session: session::Model,
    pub user: user::Model,
    /// The session token this request presented.
    pub token: String,
}

/// Who is asking, if anyone: used by routes that answer signed-out callers too.
pub struct MaybeAuthenticated(pub Option<CurrentSession>);

/// The caller's session, or 401 `unauthorized`.
pub struct Authenticated(pub CurrentSession);

impl<'a> FromRequest<'a> for MaybeAuthenticated {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = req
            .data::<AppState>()
            .ok_or_else(|| ApiError::internal("AppState is not attached to the request"))?;
        Ok(MaybeAuthenticated(resolve(state, req).await?))
    }
}

impl<'a> FromRequest<'a> for Authenticated {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        match MaybeAuthenticated::from_request(req, body).await?.0 {
            Some(current) => Ok(Authenticated(current)),
            None => Err(ApiError::unauthorized().into()),
        }
    }
}

/// The token a request presents: `Authorization: Bearer <token>` (raw or signed) for
/// non-browser clients, else the signed session cookie. A bad signature presents nothing.
pub fn presented_token(state: &AppState, req: &Request) -> Option<String> {
    presented_bearer(state, req)
        .or_else(|| signed_cookie(state, req, cookies::session_cookie_name(&state.settings)))
}

/// The token of an `Authorization: Bearer` header, raw or signed as the cookie carries it.
pub fn presented_bearer(state: &AppState, req: &Request) -> Option<String> {
    let secret = state.settings.auth_secret.expose_secret().as_bytes();
    let bearer = bearer_token(req)?;
    Some(verify_signed(secret, bearer).unwrap_or(bearer).to_owned())
}

/// The value of the signed cookie `name`, when its signature is right.
pub fn signed_cookie(state: &AppState, req: &Request, name: String) -> Option<String> {
    let secret = state.settings.auth_secret.expose_secret().as_bytes();
    let cookie_header = req.headers().get(header::COOKIE)?.to_str().ok()?;
    let signed = cookies::read(cookie_header, &name)?;
    verify_signed(secret, &signed).map(str::to_owned)
}

async fn resolve(state: &AppState, req: &Request) -> ApiResult<Option<CurrentSession>> {
    match presented_token(state, req) {
        Some(token) => resolve_token(state, req, token).await,
        None => Ok(None),
    }
}

/// The live session `token` (raw or signed) opens, if any.
pub async fn resolve_token(
    state: &AppState,
    req: &Request,
    token: String,
) -> ApiResult<Option<CurrentSession>> {
    let secret = state.settings.auth_secret.expose_secret().as_bytes();
    let verified = verify_signed(secret, &token).map(str::to_owned);
    let token = verified.unwrap_or(token);
    let Some((session, user)) = state.session_lookups.find(hash_token(&token)).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    if !is_live(&session, &user, now) {
        return Ok(None);
    }
    let session = slide(state, req, session, &token, now).await?;
    if let Some(context) = RequestContext::of(req) {
        let _ = context.user_id.set(user.id.clone());
    }
    Ok(Some(CurrentSession {
        session,
        user,
        token,
    }))
}

fn is_live(session: &session::Model, user: &user::Model, now: DateTime<Utc>) -> bool {
    session.expires_at > now && !users::is_banned(user, now)
}

/// Whether the session of the token hashing to `token_hash` still opens: not signed out,
/// revoked, expired, nor its user banned or deleted. (Long-lived sockets ask again.)
pub async fn still_open(state: &AppState, token_hash: String) -> ApiResult<bool> {
    let found = state.session_lookups.find(token_hash).await?;
    Ok(found.is_some_and(|(session, user)| is_live(&session, &user, Utc::now())))
}

/// Ends every session matching `condition`.
pub async fn revoke_where(
    db: &impl ConnectionTrait,
    condition: impl IntoCondition,
) -> ApiResult<u64> {
    let deleted = session::Entity::delete_many()
        .filter(condition)
        .exec(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(deleted.rows_affected)
}

/// A page of `user_id`'s live sessions, oldest first; `own_only` leaves out the sessions an
/// admin opened by impersonating them.
pub async fn live_page(
    db: &impl ConnectionTrait,
    user_id: &str,
    own_only: bool,
    page: &PageRequest,
) -> ApiResult<(Vec<session::Model>, Option<String>)> {
    let mut select = session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::ExpiresAt.gt(Utc::now()))
        .order_by_asc(session::Column::CreatedAt)
        .order_by_asc(session::Column::Id)
        .limit(page.fetch());
    if own_only {
        select = select.filter(session::Column::ImpersonatedBy.is_null());
    }
    if let Some((at, id)) = page.after_time(SESSIONS_LIST)? {
        select = select.filter(past(
            Expr::col(session::Column::CreatedAt),
            Expr::col(session::Column::Id),
            at,
            id,
            Order::Asc,
        ));
    }
    let rows = select.all(db).await.map_err(ApiError::internal)?;
    Ok(page.page(rows, |row| {
        time_key(SESSIONS_LIST, &row.created_at, &row.id)
    }))
}

/// The cursor name of session lists.
const SESSIONS_LIST: &str = "sessions";

/// Every session of `user_id`, and every session they opened by impersonating someone.
pub fn of_user_or_opened_by(user_id: &str) -> Condition {
    Condition::any()
        .add(session::Column::UserId.eq(user_id))
        .add(session::Column::ImpersonatedBy.eq(user_id))
}

/// Whether `user` may keep sessions opened by impersonating someone: an admin, not banned.
pub fn may_impersonate(user: &user::Model, now: DateTime<Utc>) -> bool {
    permissions::allows(&user.role, "user", "impersonate") && !users::is_banned(user, now)
}

/// Ends the sessions `admin` opened by impersonation once they may no longer impersonate
/// (banned, demoted). Every session lookup checks this too.
pub async fn end_lapsed_impersonations(
    db: &impl ConnectionTrait,
    admin: &user::Model,
) -> ApiResult<()> {
    match may_impersonate(admin, Utc::now()) {
        true => Ok(()),
        false => revoke_where(db, session::Column::ImpersonatedBy.eq(&admin.id))
            .await
            .map(|_| ()),
    }
}

/// Pushes the expiry a full TTL ahead once a day has passed since the last push, and
/// refreshes the cookie to match.
async fn slide(
    state: &AppState,
    req: &Request,
    session: session::Model,
    token: &str,
    now: DateTime<Utc>,
) -> ApiResult<session::Model> {
    let ttl = chrono::Duration::from_std(SESSION_TTL).expect("a week fits");
    if session.expires_at - now > ttl - REFRESH_AFTER {
        return Ok(session);
    }
    // An impersonation and a not-remembered browser session are short-lived on purpose: they
    // never slide.
    let dont_remember = cookies::dont_remember_cookie_name(&state.settings);
    if session.impersonated_by.is_some() || signed_cookie(state, req, dont_remember).is_some() {
        return Ok(session);
    }
    let mut active: session::ActiveModel = session.into();
    active.expires_at = Set(now + ttl);
    active.updated_at = Set(now);
    let session = active.update(&state.db).await.map_err(ApiError::internal)?;
    set_session_cookie(state, req, token);
    Ok(session)
}

/// Queues the cookies of a session opened at sign-in: persistent, or, without `remember`,
/// ending with the browser and marked so that it stays that way.
pub fn set_sign_in_cookies(state: &AppState, req: &Request, token: &str, remember: bool) {
    if remember {
        return set_session_cookie(state, req, token);
    }
    let settings = &state.settings;
    let secret = settings.auth_secret.expose_secret().as_bytes();
    queue_cookie(
        req,
        cookies::set_session(settings, &sign(secret, token), false),
    );
    queue_cookie(
        req,
        cookies::set_dont_remember(settings, &sign(secret, "true")),
    );
}

/// Queues the signed session cookie for `token` on the response.
pub fn set_session_cookie(state: &AppState, req: &Request, token: &str) {
    let secret = state.settings.auth_secret.expose_secret().as_bytes();
    queue_cookie(
        req,
        cookies::set_session(&state.settings, &sign(secret, token), true),
    );
}

/// Queues a `Set-Cookie` on the response.
pub fn queue_cookie(req: &Request, cookie: String) {
    if let Some(context) = RequestContext::of(req) {
        context.set_cookie(cookie);
    }
}

/// Queues the expiry of every auth cookie on the response.
pub fn clear_session_cookies(state: &AppState, req: &Request) {
    for cookie in cookies::clear_all(&state.settings) {
        queue_cookie(req, cookie);
    }
}

/// What a new session records about where it was opened.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub impersonated_by: Option<String>,
}

/// Opens a session for `user_id`; returns it with its token (which only the client keeps).
pub async fn create(
    db: &impl ConnectionTrait,
    user_id: &str,
    origin: Origin,
) -> ApiResult<(session::Model, String)> {
    create_for(db, user_id, origin, SESSION_TTL).await
}

/// Opens a session that lasts `ttl`.
pub async fn create_for(
    db: &impl ConnectionTrait,
    user_id: &str,
    origin: Origin,
    ttl: std::time::Duration,
) -> ApiResult<(session::Model, String)> {
    let token = random_token();
    let now = Utc::now();
    let ttl = chrono::Duration::from_std(ttl).map_err(ApiError::internal)?;
    let session = session::ActiveModel {
        id: Set(new_id("sess")),
        token_hash: Set(hash_token(&token)),
        user_id: Set(user_id.to_owned()),
        expires_at: Set(now + ttl),
        ip_address: Set(origin.ip_address),
        user_agent: Set(origin.user_agent),
        impersonated_by: Set(origin.impersonated_by),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(ApiError::internal)?;
    Ok((session, token))
}
