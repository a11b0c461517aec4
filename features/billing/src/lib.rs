//! The billing capability: subscriptions per customer, in our own types.
//!
//! Domain code talks to a [`BillingProvider`] (list plans, customers, checkout, the customer
//! portal, subscription changes, invoices, and webhooks verified and parsed into a
//! [`BillingEvent`]) and never sees the provider's types. [`from_settings`] picks Stripe when
//! `STRIPE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRET` and the plans are set, and [`Disabled`]
//! otherwise, whose every call is [`BillingError::NotConfigured`].

mod disabled;
mod plans;
mod stripe;

use std::sync::Arc;

use secrecy::SecretString;

pub use disabled::Disabled;
pub use plans::{Interval, Plan, parse_plans};
pub use stripe::StripeBilling;

/// The variables that switch billing on; shown by the boot table while they are unset.
pub const ENABLE_VARS: &[&str] = &[
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "BILLING_PLANS_JSON",
];

/// A subscription as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    /// The provider's status: `active`, `trialing`, `past_due`, `canceled`, `unpaid`,
    /// `incomplete`, `incomplete_expired`, `paused`.
    pub status: String,
    /// The price of its (single) item.
    pub price_id: String,
    /// Its item, to change the price or quantity of.
    pub item_id: String,
    pub quantity: u64,
    /// Unix seconds.
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub number: Option<String>,
    pub status: Option<String>,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    /// Unix seconds.
    pub created: i64,
    pub hosted_invoice_url: Option<String>,
    pub pdf_url: Option<String>,
}

/// A page of invoices, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePage {
    pub invoices: Vec<Invoice>,
    pub has_more: bool,
}

/// A checkout to start.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub customer_id: &'a str,
    pub price_id: &'a str,
    pub quantity: u64,
    pub trial_days: Option<u32>,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// Ours: carried through the provider and back in the webhook.
    pub reference: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub session_id: String,
    pub url: String,
}

/// What a webhook says happened, in our terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingEvent {
    /// The provider's event id: the key that makes processing exactly-once.
    pub id: String,
    /// The provider's event type, e.g. `customer.subscription.updated`.
    pub kind: String,
    pub change: BillingChange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingChange {
    /// A subscription of this customer changed (created, updated, deleted, a checkout
    /// completed, an invoice paid or failed): re-read it from the provider.
    Subscription {
        customer_id: String,
        subscription_id: String,
    },
    /// An event billing does not act on.
    Ignored,
}

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error(
        "billing is not configured (set STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and BILLING_PLANS_JSON)"
    )]
    NotConfigured,
    #[error("the billing provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the billing provider refused the request: {0}")]
    Rejected(String),
    #[error("the object does not exist at the billing provider")]
    NotFound,
    #[error("the webhook's signature is not valid: {0}")]
    InvalidSignature(String),
    #[error("the webhook's body is not an event: {0}")]
    MalformedEvent(String),
}

#[async_trait::async_trait]
pub trait BillingProvider: Send + Sync + 'static {
    /// Short name of the backend, for the boot table and `/v1/config`.
    fn backend(&self) -> &'static str;

    /// True when billing actually reaches a provider.
    fn enabled(&self) -> bool;

    /// The configured plans (empty when disabled).
    fn plans(&self) -> &[Plan];

    /// A new customer for `email`, tagged with our `reference`.
    async fn create_customer(
        &self,
        email: &str,
        name: &str,
        reference: &str,
    ) -> Result<String, BillingError>;

    async fn start_checkout(&self, request: CheckoutRequest<'_>) -> Result<Checkout, BillingError>;

    /// The customer portal's address for `customer_id`, coming back to `return_url`.
    async fn portal(&self, customer_id: &str, return_url: &str) -> Result<String, BillingError>;

    async fn subscription(&self, id: &str) -> Result<Subscription, BillingError>;

    /// Cancels at the end of the period (`true`) or takes that back (`false`).
    async fn cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
    ) -> Result<Subscription, BillingError>;

    /// Moves the subscription's item to `price_id` with `quantity`, prorated.
    async fn change_plan(
        &self,
        subscription: &Subscription,
        price_id: &str,
        quantity: u64,
    ) -> Result<Subscription, BillingError>;

    /// Ends the subscription now (the workspace is being deleted).
    async fn cancel_now(&self, id: &str) -> Result<(), BillingError>;

    async fn invoices(
        &self,
        customer_id: &str,
        limit: u64,
        after: Option<&str>,
    ) -> Result<InvoicePage, BillingError>;

    /// Verifies the signature of a webhook and reads its event.
    fn parse_webhook(&self, payload: &str, signature: &str) -> Result<BillingEvent, BillingError>;

    /// Cheap reachability probe used by `orbit doctor`.
    async fn check(&self) -> Result<(), BillingError>;
}

#[derive(Debug, Clone, Default)]
pub struct BillingSettings {
    pub secret_key: Option<SecretString>,
    pub webhook_secret: Option<SecretString>,
    pub plans: Vec<Plan>,
    /// Overrides Stripe's API address (a proxy, or a stub in tests).
    pub api_base: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("STRIPE_WEBHOOK_SECRET is required when STRIPE_SECRET_KEY is set")]
    MissingWebhookSecret,
    #[error(
        "BILLING_PLANS_JSON (or BILLING_PLANS_FILE) must list at least one plan when STRIPE_SECRET_KEY is set"
    )]
    NoPlans,
    #[error("STRIPE_SECRET_KEY is required when STRIPE_WEBHOOK_SECRET is set")]
    MissingKey,
}

impl BillingSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        match (&self.secret_key, &self.webhook_secret) {
            (Some(_), None) => Err(SettingsError::MissingWebhookSecret),
            (None, Some(_)) => Err(SettingsError::MissingKey),
            (Some(_), Some(_)) if self.plans.is_empty() => Err(SettingsError::NoPlans),
            _ => Ok(()),
        }
    }
}

/// Chooses the provider for these settings.
pub fn from_settings(
    settings: &BillingSettings,
) -> Result<Arc<dyn BillingProvider>, SettingsError> {
    settings.validate()?;
    Ok(match StripeBilling::new(settings) {
        Some(stripe) => Arc::new(stripe),
        None => Arc::new(Disabled),
    })
}
