//! The mails auth sends, each with a plain-text and an HTML body.

use orbit_email::Email;
use poem::http::StatusCode;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Sends `mail` through the email capability; a refusal is logged (naming `what`) and
/// answered 503 `EMAIL_SEND_FAILED`, which the client may retry.
pub async fn deliver(state: &AppState, mail: Email, what: &str) -> Result<(), ApiError> {
    state.capabilities.mailer.send(mail).await.map_err(|err| {
        tracing::error!(error = %err, mail = what, "email not sent");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "EMAIL_SEND_FAILED",
            "The email could not be sent; try again shortly",
        )
    })
}

/// Runs `work` (finding an account and mailing it) after the response: a request about an
/// address then answers in the same time whether or not it has an account. A failure is
/// logged, naming `what`.
pub fn after_response(
    what: &'static str,
    work: impl Future<Output = ApiResult<()>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(err) = work.await {
            tracing::error!(error = %err, mail = what, "email not sent");
        }
    });
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
