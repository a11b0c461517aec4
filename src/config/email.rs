//! The email section: `RESEND_*` into the email crate's `EmailSettings`, validated there.

use orbit_email::EmailSettings;
use secrecy::SecretString;

use super::{AppEnv, Vars};

impl Vars {
    pub(super) fn email(&mut self, env: AppEnv) -> EmailSettings {
        let resend_base_url = self.url("RESEND_BASE_URL");
        let email = EmailSettings {
            resend_api_key: self.get("RESEND_API_KEY").map(SecretString::from),
            resend_from: self.get("RESEND_FROM").map(str::to_owned),
            resend_base_url,
            redact_console_log: env.is_production(),
        };
        if let Err(err) = email.validate() {
            self.problems.push(err.to_string());
        }
        email
    }
}
