use std::collections::HashMap;
use std::time::Duration;

use secrecy::ExposeSecret;
use stripe::{Client, ClientBuilder, StripeError};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::ListInvoice;
use stripe_billing::subscription::{
    CancelSubscription, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use stripe_webhook::{EventObject, Webhook, WebhookError};

use crate::{
    BillingChange, BillingError, BillingEvent, BillingProvider, BillingSettings, Checkout,
    CheckoutRequest, Invoice, InvoicePage, Plan, Subscription,
};

/// The metadata key that carries our reference through Stripe.
const REFERENCE: &str = "orbit_reference";

/// Stripe, through async-stripe.
pub struct StripeBilling {
    client: Client,
    webhook_secret: String,
    plans: Vec<Plan>,
}

impl StripeBilling {
    /// The provider these settings describe; `None` without a key. Makes no network call.
    pub fn new(settings: &BillingSettings) -> Option<Self> {
        let key = settings.secret_key.as_ref()?.expose_secret();
        let mut builder = ClientBuilder::new(key).timeout(Duration::from_secs(15));
        if let Some(base) = &settings.api_base {
            builder = builder.url(base.as_str());
        }
        let client = match builder.build() {
            Ok(client) => client,
            Err(err) => {
                tracing::error!(error = %err, "STRIPE_API_BASE is not usable; billing stays off");
                return None;
            }
        };
        Some(Self {
            client,
            webhook_secret: settings.webhook_secret.as_ref()?.expose_secret().to_owned(),
            plans: settings.plans.clone(),
        })
    }
}

fn classify(err: StripeError) -> BillingError {
    match err {
        StripeError::Stripe(_, 404) => BillingError::NotFound,
        StripeError::Stripe(errors, status) if status < 500 => BillingError::Rejected(format!(
            "{status}: {}",
            errors.message.as_deref().unwrap_or("no message")
        )),
        StripeError::Stripe(_, status) => BillingError::Unreachable(format!("status {status}")),
        StripeError::ClientError(cause) => BillingError::Unreachable(cause),
        StripeError::Timeout => BillingError::Unreachable("timed out".into()),
        other => BillingError::Rejected(other.to_string()),
    }
}

fn subscription_of(sub: &stripe_billing::Subscription) -> Result<Subscription, BillingError> {
    let item = sub
        .items
        .data
        .first()
        .ok_or_else(|| BillingError::Rejected("the subscription has no item".into()))?;
    Ok(Subscription {
        id: sub.id.to_string(),
        customer_id: sub.customer.id().to_string(),
        status: sub.status.as_str().to_owned(),
        price_id: item.price.id.to_string(),
        item_id: item.id.to_string(),
        quantity: item.quantity.unwrap_or(1),
        current_period_end: Some(item.current_period_end),
        cancel_at_period_end: sub.cancel_at_period_end,
        trial_end: sub.trial_end,
    })
}

#[async_trait::async_trait]
impl BillingProvider for StripeBilling {
    fn backend(&self) -> &'static str {
        "stripe"
    }

    fn enabled(&self) -> bool {
        true
    }

    fn plans(&self) -> &[Plan] {
        &self.plans
    }

    async fn create_customer(
        &self,
        email: &str,
        name: &str,
        reference: &str,
    ) -> Result<String, BillingError> {
        let customer = CreateCustomer::new()
            .email(email)
            .name(name)
            .metadata(HashMap::from([(
                REFERENCE.to_owned(),
                reference.to_owned(),
            )]))
            .send(&self.client)
            .await
            .map_err(classify)?;
        Ok(customer.id.to_string())
    }

    async fn start_checkout(&self, request: CheckoutRequest<'_>) -> Result<Checkout, BillingError> {
        let metadata = HashMap::from([(REFERENCE.to_owned(), request.reference.to_owned())]);
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(request.price_id.to_owned());
        item.quantity = Some(request.quantity);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.trial_period_days = request.trial_days;
        subscription.metadata = Some(metadata.clone());
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .customer(request.customer_id)
            .line_items(vec![item])
            .success_url(request.success_url)
            .cancel_url(request.cancel_url)
            .client_reference_id(request.reference)
            .metadata(metadata)
            .subscription_data(subscription)
            .send(&self.client)
            .await
            .map_err(classify)?;
        let url = session
            .url
            .ok_or_else(|| BillingError::Rejected("the checkout session has no URL".into()))?;
        Ok(Checkout {
            session_id: session.id.to_string(),
            url,
        })
    }

    async fn portal(&self, customer_id: &str, return_url: &str) -> Result<String, BillingError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer_id)
            .return_url(return_url)
            .send(&self.client)
            .await
            .map_err(classify)?;
        Ok(session.url)
    }

    async fn subscription(&self, id: &str) -> Result<Subscription, BillingError> {
        let sub = RetrieveSubscription::new(id)
            .send(&self.client)
            .await
            .map_err(classify)?;
        subscription_of(&sub)
    }

    async fn cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
    ) -> Result<Subscription, BillingError> {
        let sub = UpdateSubscription::new(id)
            .cancel_at_period_end(cancel)
            .send(&self.client)
            .await
            .map_err(classify)?;
        subscription_of(&sub)
    }

    async fn change_plan(
        &self,
        subscription: &Subscription,
        price_id: &str,
        quantity: u64,
    ) -> Result<Subscription, BillingError> {
        let mut item = UpdateSubscriptionItems::new();
        item.id = Some(subscription.item_id.clone());
        item.price = Some(price_id.to_owned());
        item.quantity = Some(quantity);
        let sub = UpdateSubscription::new(subscription.id.as_str())
            .items(vec![item])
            .proration_behavior(UpdateSubscriptionProrationBehavior::CreateProrations)
            .send(&self.client)
            .await
            .map_err(classify)?;
        subscription_of(&sub)
    }

    async fn cancel_now(&self, id: &str) -> Result<(), BillingError> {
        match CancelSubscription::new(id).send(&self.client).await {
            Ok(_) => Ok(()),
            // Already gone at Stripe: nothing left to cancel.
            Err(StripeError::Stripe(_, 404)) => Ok(()),
            Err(err) => Err(classify(err)),
        }
    }

    async fn invoices(
        &self,
        customer_id: &str,
        limit: u64,
        after: Option<&str>,
    ) -> Result<InvoicePage, BillingError> {
        let mut request = ListInvoice::new()
            .customer(customer_id)
            .limit(limit.min(100) as i64);
        if let Some(after) = after {
            request = request.starting_after(after);
        }
        let page = request.send(&self.client).await.map_err(classify)?;
        let invoices = page
            .data
            .iter()
            .filter_map(|invoice| {
                Some(Invoice {
                    id: invoice.id.as_deref()?.to_owned(),
                    number: invoice.number.clone(),
                    status: invoice
                        .status
                        .as_ref()
                        .map(|status| status.as_str().to_owned()),
                    amount_due: invoice.amount_due,
                    amount_paid: invoice.amount_paid,
                    currency: invoice.currency.to_string(),
                    created: invoice.created,
                    hosted_invoice_url: invoice.hosted_invoice_url.clone(),
                    pdf_url: invoice.invoice_pdf.clone(),
                })
            })
            .collect();
        Ok(InvoicePage {
            invoices,
            has_more: page.has_more,
        })
    }

    fn parse_webhook(&self, payload: &str, signature: &str) -> Result<BillingEvent, BillingError> {
        let event =
            Webhook::construct_event(payload, signature, &self.webhook_secret).map_err(|err| {
                match err {
                    WebhookError::BadParse(cause) => BillingError::MalformedEvent(cause),
                    other => BillingError::InvalidSignature(other.to_string()),
                }
            })?;
        let subscription_change =
            |customer: Option<String>, subscription: Option<String>| match (customer, subscription)
            {
                (Some(customer_id), Some(subscription_id)) => BillingChange::Subscription {
                    customer_id,
                    subscription_id,
                },
                _ => BillingChange::Ignored,
            };
        let change = match &event.data.object {
            EventObject::CheckoutSessionCompleted(session) => subscription_change(
                session.customer.as_ref().map(|c| c.id().to_string()),
                session.subscription.as_ref().map(|s| s.id().to_string()),
            ),
            EventObject::CustomerSubscriptionCreated(sub)
            | EventObject::CustomerSubscriptionUpdated(sub)
            | EventObject::CustomerSubscriptionDeleted(sub) => subscription_change(
                Some(sub.customer.id().to_string()),
                Some(sub.id.to_string()),
            ),
            EventObject::InvoicePaid(invoice) | EventObject::InvoicePaymentFailed(invoice) => {
                let subscription = invoice
                    .parent
                    .as_ref()
                    .and_then(|parent| parent.subscription_details.as_ref())
                    .map(|details| details.subscription.id().to_string());
                subscription_change(
                    invoice.customer.as_ref().map(|c| c.id().to_string()),
                    subscription,
                )
            }
            _ => BillingChange::Ignored,
        };
        Ok(BillingEvent {
            id: event.id.to_string(),
            kind: event.type_.as_str().to_owned(),
            change,
        })
    }

    async fn check(&self) -> Result<(), BillingError> {
        // The cheapest authenticated read: one invoice of nobody (a 4xx still proves the key).
        match ListInvoice::new().limit(1).send(&self.client).await {
            Ok(_) => Ok(()),
            Err(StripeError::Stripe(_, 401)) => {
                Err(BillingError::Rejected("the key is refused".into()))
            }
            Err(err) => match classify(err) {
                BillingError::Rejected(_) | BillingError::NotFound => Ok(()),
                other => Err(other),
            },
        }
    }
}
