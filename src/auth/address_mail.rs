//! Mails a signed-out caller asks for about an address (a password-reset link, a verification
//! link). The request enqueues one job whatever the address, so it does the same work in the
//! same time whether or not the address has an account; the job finds the account and mails
//! it. Durable like every mail: a crash after the answer delays the mail, never loses it.

use orbit_jobs::{Handler, JobError, NewJob};
use serde::{Deserialize, Serialize};

use super::address::EmailAddress;
use super::api::password::mail_reset_link;
use super::{email_verification, users};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The job that looks an address up and mails its account.
pub const JOB: &str = "auth.address_mail";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AddressMail {
    /// A reset link, if the address has an account.
    PasswordReset {
        email: String,
        redirect_to: Option<String>,
    },
    /// A verification link, if the address has an account not yet verified.
    Verification {
        email: String,
        callback: Option<String>,
    },
}

/// Enqueues `mail` in a transaction of its own.
pub async fn enqueue(state: &AppState, mail: &AddressMail) -> ApiResult<()> {
    let tx = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let job = NewJob::new(JOB, mail).map_err(ApiError::internal)?;
    crate::jobs::enqueue(state, &tx, job).await?;
    tx.commit().await.map_err(ApiError::internal)
}

pub fn handler(state: AppState) -> Handler {
    Handler::typed(JOB, move |_, mail: AddressMail| {
        let state = state.clone();
        async move { send(&state, mail).await.map_err(JobError::retry) }
    })
    .max_attempts(5)
}

async fn send(state: &AppState, mail: AddressMail) -> ApiResult<()> {
    match mail {
        AddressMail::PasswordReset { email, redirect_to } => {
            let email = EmailAddress::parse(&email)?;
            mail_reset_link(state, &email, redirect_to.as_deref()).await
        }
        AddressMail::Verification { email, callback } => {
            let email = EmailAddress::parse(&email)?;
            let user = users::find_by_email(&state.db, &email).await?;
            match user.filter(|user| !user.email_verified) {
                Some(user) => {
                    email_verification::send_verification(state, &user, callback.as_deref()).await
                }
                None => Ok(()),
            }
        }
    }
}
