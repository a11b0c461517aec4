use crate::{Email, MailError, Mailer};

/// The fallback mailer: writes the recipient, the subject and every link to the log (when
/// redacting, only each link's origin and a masked recipient).
pub struct ConsoleMailer {
    redact: bool,
}

impl ConsoleMailer {
    pub fn new(redact: bool) -> Self {
        Self { redact }
    }
}

#[async_trait::async_trait]
impl Mailer for ConsoleMailer {
    fn backend(&self) -> &'static str {
        "console"
    }

    fn delivers(&self) -> bool {
        false
    }

    async fn send(&self, email: Email) -> Result<(), MailError> {
        let links: Vec<&str> = links_in(&email.text)
            .map(|link| match self.redact {
                true => origin_of(link),
                false => link,
            })
            .collect();
        let to = match self.redact {
            true => mask_address(&email.to),
            false => email.to.clone(),
        };
        tracing::info!(
            to = %to,
            subject = %email.subject,
            links = ?links,
            "email not sent (console mailer): set RESEND_API_KEY and RESEND_FROM to deliver"
        );
        Ok(())
    }
}

/// Every `http://` or `https://` word of a text body.
pub(crate) fn links_in(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
        .filter_map(|word| {
            word.find("http://")
                .or_else(|| word.find("https://"))
                .map(|at| &word[at..])
        })
        .map(|link| link.trim_end_matches(['.', ',', ')', '>', '"', '\'']))
}

/// `https://host` of a link: tokens travel in paths (`/reset-password/<token>`) as well as in
/// query strings, so a redacted link keeps neither.
fn origin_of(link: &str) -> &str {
    let authority_start = link.find("://").map_or(0, |at| at + 3);
    match link[authority_start..].find(['/', '?', '#']) {
        Some(end) => &link[..authority_start + end],
        None => link,
    }
}

/// `j***@example.com`: enough to tell mails apart in a log, not enough to name anyone.
fn mask_address(address: &str) -> String {
    let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
    let first: String = local.chars().take(1).collect();
    format!("{first}***@{domain}")
}

#[cfg(test)]
mod tests {
    use super::{links_in, mask_address, origin_of};

    #[test]
    fn masked_addresses_keep_one_letter_and_the_domain() {
        assert_eq!(mask_address("jane.doe@example.com"), "j***@example.com");
    }

    #[test]
    fn redaction_keeps_only_the_origin() {
        assert_eq!(
            origin_of("https://api.test/v1/auth/reset-password/secret?callbackURL=/x"),
            "https://api.test"
        );
        assert_eq!(origin_of("http://x.test?token=abc"), "http://x.test");
        assert_eq!(origin_of("http://x.test"), "http://x.test");
    }

    #[test]
    fn finds_every_link_and_trims_punctuation() {
        let text = "Sign in: https://api.test/verify?token=abc.\nOr (http://x.test/a), not ftp://y";
        let links: Vec<_> = links_in(text).collect();
        assert_eq!(
            links,
            ["https://api.test/verify?token=abc", "http://x.test/a"]
        );
    }
}
