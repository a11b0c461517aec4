//! Proving an address: mails a single-use link to `/v1/auth/verify-email`, used both to
//! verify a new account's address and to move an account to a new address.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::emails;
use super::entities::user;
use super::links::api_link;
use super::verifications::Purpose;
use crate::error::ApiResult;
use crate::state::AppState;

pub const TTL: Duration = Duration::from_secs(60 * 60);

/// What a verification link grants: `email` of `user_id` is proven, or, with `new_email`,
/// the account moves to that address (proven by the mail reaching it).
#[derive(Debug, Serialize, Deserialize)]
pub struct Grant {
    pub user_id: String,
    pub email: String,
    pub new_email: Option<String>,
}

/// Mails `user` a link proving their current address.
pub async fn send_verification(
    state: &AppState,
    user: &user::Model,
    callback: Option<&str>,
) -> ApiResult<()> {
    let grant = Grant {
        user_id: user.id.clone(),
        email: user.email.clone(),
        new_email: None,
    };
    emails::mail_token(state, Purpose::VerifyEmail, &grant, TTL, |token| {
        emails::verify_email(&user.email, &link(state, token, callback))
    })
    .await
}

/// Mails `new_email` a link that moves `user` to it.
pub async fn send_change(
    state: &AppState,
    user: &user::Model,
    new_email: &str,
    callback: Option<&str>,
) -> ApiResult<()> {
    let grant = Grant {
        user_id: user.id.clone(),
        email: user.email.clone(),
        new_email: Some(new_email.to_owned()),
    };
    emails::mail_token(state, Purpose::VerifyEmail, &grant, TTL, |token| {
        emails::change_email(new_email, &link(state, token, callback))
    })
    .await
}

fn link(state: &AppState, token: &str, callback: Option<&str>) -> String {
    api_link(
        &state.settings,
        "/v1/auth/verify-email",
        &[("token", token), ("callbackURL", callback.unwrap_or("/"))],
    )
}
