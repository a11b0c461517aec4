//! The mails the app sends, each with a plain-text and an HTML body, and how they leave: each
//! is a job enqueued in the transaction that causes it (the one that creates its token), sent
//! with retries, so a request never waits on the provider and an outage delays a mail without
//! losing it.

use std::sync::Arc;
use std::time::Duration;

use orbit_email::{Email, MailError, Mailer};
use orbit_jobs::{Handler, JobError, NewJob};
use sea_orm::DatabaseTransaction;
use serde::Serialize;

use super::verifications::{self, Purpose};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The job that sends one mail.
pub const SEND_JOB: &str = "email.send";

/// Enqueues `mail` in `tx`: it is sent once `tx` commits.
pub async fn enqueue(state: &AppState, tx: &DatabaseTransaction, mail: &Email) -> ApiResult<()> {
    let job = NewJob::new(SEND_JOB, mail).map_err(ApiError::internal)?;
    crate::jobs::enqueue(state, tx, job).await
}

/// Issues a `purpose` token for `grant` and enqueues the mail `compose` writes around it, in
/// one transaction: the mail goes out exactly when the token exists.
pub async fn mail_token(
    state: &AppState,
    purpose: Purpose,
    grant: &impl Serialize,
    ttl: Duration,
    compose: impl FnOnce(&str) -> Email,
) -> ApiResult<()> {
    let tx = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let token = verifications::issue(&tx, purpose, grant, ttl).await?;
    enqueue(state, &tx, &compose(&token)).await?;
    tx.commit().await.map_err(ApiError::internal)
}

/// Sends the mails: a provider outage is retried (10 attempts, from 5 s to about 20 min
/// apart); a message the provider refuses fails at once. Never logs an address or a link.
pub fn send_handler(mailer: Arc<dyn Mailer>) -> Handler {
    Handler::typed(SEND_JOB, move |_, mail: Email| {
        let mailer = mailer.clone();
        async move {
            let sent = mailer.send(mail).await;
            let outcome = match &sent {
                Ok(()) => "sent",
                Err(MailError::Unreachable(_)) => "unreachable",
                Err(MailError::Rejected(_)) => "rejected",
            };
            metrics::counter!("email_sends_total", "outcome" => outcome).increment(1);
            sent.map_err(|err| match err {
                MailError::Unreachable(_) => JobError::retry(err),
                MailError::Rejected(_) => JobError::permanent(err),
            })
        }
    })
    .max_attempts(10)
    .backoff(Duration::from_secs(5))
    .timeout(Duration::from_secs(30))
}

/// Escapes text for an HTML attribute or element.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A mail with one call to action: `intro`, then a button (and the bare link) to `link`.
pub fn with_button(to: &str, subject: &str, intro: &str, action: &str, link: &str) -> Email {
    let text =
        format!("{intro}\n\n{action}: {link}\n\nIf you did not ask for this, ignore this email.\n");
    let html = format!(
        "<p>{}</p><p><a href=\"{link_html}\">{}</a></p>\
         <p>If the button does not work, paste this link into your browser:<br>{link_html}</p>\
         <p>If you did not ask for this, ignore this email.</p>",
        html_escape(intro),
        html_escape(action),
        link_html = html_escape(link),
    );
    Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text,
        html,
    }
}

pub fn magic_link(to: &str, link: &str, ttl_minutes: u64) -> Email {
    with_button(
        to,
        "Your sign-in link",
        &format!("Use this link to sign in. It works once and expires in {ttl_minutes} minutes."),
        "Sign in",
        link,
    )
}

pub fn verify_email(to: &str, link: &str) -> Email {
    with_button(
        to,
        "Verify your email address",
        "Confirm that this is your email address. The link expires in one hour.",
        "Verify email",
        link,
    )
}

pub fn change_email(to: &str, link: &str) -> Email {
    with_button(
        to,
        "Confirm your new email address",
        "Confirm this address to make it the one you sign in with. The link expires in one hour.",
        "Confirm new email",
        link,
    )
}

pub fn reset_password(to: &str, link: &str) -> Email {
    with_button(
        to,
        "Reset your password",
        "Someone asked to reset the password of this account. The link expires in one hour.",
        "Choose a new password",
        link,
    )
}

pub fn delete_account(to: &str, link: &str) -> Email {
    with_button(
        to,
        "Confirm account deletion",
        "Confirm that you want to delete your account and its data. This cannot be undone. \
         The link expires in 24 hours.",
        "Delete my account",
        link,
    )
}
