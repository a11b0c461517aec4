use crate::{Email, MailError, Mailer};

/// The fallback mailer: writes the recipient, the subject and every link to the log.
pub struct ConsoleMailer {
    redact_links: bool,
}

impl ConsoleMailer {
    pub fn new(redact_links: bool) -> Self {
        Self { redact_links }
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
            .map(|link| match self.redact_links {
                true => link.split('?').next().unwrap_or(link),
                false => link,
            })
            .collect();
        tracing::info!(
            to = %email.to,
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

#[cfg(test)]
mod tests {
    use super::links_in;

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
