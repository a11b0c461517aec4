use crate::{
    BillingError, BillingEvent, BillingProvider, Checkout, CheckoutRequest, InvoicePage, Plan,
    Subscription,
};

/// No provider configured: nothing is sold, every call says so (mutations answer 409).
pub struct Disabled;

#[async_trait::async_trait]
impl BillingProvider for Disabled {
    fn backend(&self) -> &'static str {
        "none"
    }

    fn enabled(&self) -> bool {
        false
    }

    fn plans(&self) -> &[Plan] {
        &[]
    }

    async fn create_customer(&self, _: &str, _: &str, _: &str) -> Result<String, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn start_checkout(&self, _: CheckoutRequest<'_>) -> Result<Checkout, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn portal(&self, _: &str, _: &str) -> Result<String, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn subscription(&self, _: &str) -> Result<Subscription, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn cancel_at_period_end(&self, _: &str, _: bool) -> Result<Subscription, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn change_plan(
        &self,
        _: &Subscription,
        _: &str,
        _: u64,
    ) -> Result<Subscription, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn cancel_now(&self, _: &str) -> Result<(), BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn invoices(
        &self,
        _: &str,
        _: u64,
        _: Option<&str>,
    ) -> Result<InvoicePage, BillingError> {
        Err(BillingError::NotConfigured)
    }

    fn parse_webhook(&self, _: &str, _: &str) -> Result<BillingEvent, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn check(&self) -> Result<(), BillingError> {
        Ok(())
    }
}
