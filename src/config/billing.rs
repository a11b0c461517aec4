//! The billing section: `STRIPE_*` and the plans into the billing crate's `BillingSettings`
//! (validated there), and the grace period of a late payment.

use std::time::Duration;

use orbit_billing::BillingSettings;
use secrecy::SecretString;

use super::Vars;

impl Vars {
    pub(super) fn billing(&mut self) -> BillingSettings {
        let plans_json = match (
            self.get("BILLING_PLANS_JSON"),
            self.get("BILLING_PLANS_FILE"),
        ) {
            (Some(json), _) => Some(("BILLING_PLANS_JSON", json.to_owned())),
            (None, Some(path)) => {
                let path = path.to_owned();
                match std::fs::read_to_string(&path) {
                    Ok(json) => Some(("BILLING_PLANS_FILE", json)),
                    Err(err) => {
                        self.problems
                            .push(format!("BILLING_PLANS_FILE {path:?} cannot be read: {err}"));
                        None
                    }
                }
            }
            (None, None) => None,
        };
        let plans = match plans_json {
            Some((name, json)) => orbit_billing::parse_plans(&json).unwrap_or_else(|err| {
                self.problems.push(format!("{name}: {err}"));
                Vec::new()
            }),
            None => Vec::new(),
        };
        let secret = |vars: &Self, name: &str| {
            vars.get(name)
                .map(|value| SecretString::from(value.to_owned()))
        };
        let billing = BillingSettings {
            secret_key: secret(self, "STRIPE_SECRET_KEY"),
            webhook_secret: secret(self, "STRIPE_WEBHOOK_SECRET"),
            plans,
            api_base: self.url("STRIPE_API_BASE").map(String::from),
        };
        if let Err(err) = billing.validate() {
            self.problems.push(err.to_string());
        }
        billing
    }

    /// How long a past-due subscription keeps its workspace entitled (`BILLING_GRACE_DAYS`, 3).
    pub(super) fn billing_grace(&mut self) -> Duration {
        let days = self.parse("BILLING_GRACE_DAYS", 3u64, "a number of days");
        if days > 60 {
            self.problems
                .push(format!("BILLING_GRACE_DAYS must be 0 to 60 (got {days})"));
        }
        Duration::from_secs(days * 86_400)
    }
}
