//! The mails auth sends, each with a plain-text and an HTML body.

use orbit_email::Email;

/// Escapes text for an HTML attribute or element.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn with_button(to: &str, subject: &str, intro: &str, action: &str, link: &str) -> Email {
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
