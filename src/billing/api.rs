//! The billing routes (tag `billing`): the plans, a workspace's subscription (any member may
//! look), and changing it (`workspace.billing.manage`).

use chrono::{DateTime, Utc};
use orbit_billing::{BillingProvider, CheckoutRequest, Interval, Plan};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use serde_json::json;
use std::sync::Arc;

use super::{
    account, billing_error, ensure_account, find, has_live_subscription, is_entitled, plan_by_key,
    quantity, sync,
};
use crate::audit::{self, Action, Actor, Entry};
use crate::auth::origin::resolve_callback;
use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::{PageRequest, cursor_of, id_key};
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::time::iso;
use crate::workspaces::access::Access;
use crate::workspaces::permissions::Permission;

#[derive(Default)]
pub struct BillingApi;

/// The cursor name of the invoices list.
const INVOICES_LIST: &str = "invoices";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "BillingInterval", rename_all = "lowercase")]
enum IntervalDto {
    Day,
    Week,
    Month,
    Year,
}

#[derive(Debug, Object)]
#[oai(rename = "BillingPlan", rename_all = "camelCase")]
struct PlanDto {
    key: String,
    name: String,
    description: String,
    /// In the currency's smallest unit (cents), per seat for a per-seat plan.
    unit_amount: i64,
    currency: String,
    interval: IntervalDto,
    interval_count: u32,
    #[oai(nullable)]
    trial_days: Option<u32>,
    /// Billed per member.
    per_seat: bool,
    features: Vec<String>,
}

impl From<&Plan> for PlanDto {
    fn from(plan: &Plan) -> Self {
        Self {
            key: plan.key.clone(),
            name: plan.name.clone(),
            description: plan.description.clone(),
            unit_amount: plan.unit_amount,
            currency: plan.currency.clone(),
            interval: match plan.interval {
                Interval::Day => IntervalDto::Day,
                Interval::Week => IntervalDto::Week,
                Interval::Month => IntervalDto::Month,
                Interval::Year => IntervalDto::Year,
            },
            interval_count: plan.interval_count,
            trial_days: plan.trial_days,
            per_seat: plan.per_seat,
            features: plan.features.clone(),
        }
    }
}

#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(rename = "BillingSubscription", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionDto {
    /// The provider's: `active`, `trialing`, `past_due`, `canceled`, `unpaid`, `incomplete`…
    pub status: String,
    /// `null` when its price is not one of the configured plans.
    #[oai(nullable)]
    pub plan_key: Option<String>,
    pub quantity: u64,
    #[oai(nullable)]
    pub current_period_end: Option<String>,
    pub cancel_at_period_end: bool,
    #[oai(nullable)]
    pub trial_end: Option<String>,
}

impl SubscriptionDto {
    pub fn of(account: &account::Model) -> Option<Self> {
        account.subscription_id.as_ref()?;
        Some(Self {
            status: account.status.clone().unwrap_or_default(),
            plan_key: account.plan_key.clone(),
            quantity: account.quantity.max(0) as u64,
            current_period_end: account.current_period_end.map(iso),
            cancel_at_period_end: account.cancel_at_period_end,
            trial_end: account.trial_end.map(iso),
        })
    }
}

#[derive(Debug, Object)]
#[oai(rename = "WorkspaceBilling", rename_all = "camelCase")]
struct BillingDto {
    /// Whether this deploy bills at all.
    enabled: bool,
    /// `stripe`, or `none`.
    provider: String,
    #[oai(nullable)]
    plan: Option<PlanDto>,
    #[oai(nullable)]
    subscription: Option<SubscriptionDto>,
    /// Whether the workspace may use what its plan pays for: active or trialing, or past due
    /// within `BILLING_GRACE_DAYS`.
    entitled: bool,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct CheckoutBody {
    plan_key: Text<48, 1>,
    /// Where the provider sends the browser after paying (a trusted origin).
    success_url: Text<2048, 1>,
    /// Where it sends the browser when the customer gives up (a trusted origin).
    cancel_url: Text<2048, 1>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct CheckoutStarted {
    /// Send the browser here.
    redirect_url: String,
    session_id: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct PortalBody {
    return_url: Text<2048, 1>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct PortalOpened {
    redirect_url: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct ChangePlanBody {
    plan_key: Text<48, 1>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct CancelBody {
    /// Must be `true`: a subscription ends at the end of the period it was paid for.
    at_period_end: bool,
}

#[derive(Debug, Object)]
#[oai(rename = "Invoice", rename_all = "camelCase")]
struct InvoiceDto {
    id: String,
    #[oai(nullable)]
    number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    #[oai(nullable)]
    status: Option<String>,
    amount_due: i64,
    amount_paid: i64,
    currency: String,
    created_at: String,
    #[oai(nullable)]
    hosted_invoice_url: Option<String>,
    #[oai(nullable)]
    pdf_url: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct InvoicePage {
    /// Newest first.
    items: Vec<InvoiceDto>,
    #[oai(nullable)]
    next_cursor: Option<String>,
}

/// The provider, or 409 `billing.provider_not_configured`.
fn provider(state: &AppState) -> ApiResult<&Arc<dyn BillingProvider>> {
    let provider = &state.capabilities.billing;
    match provider.enabled() {
        true => Ok(provider),
        false => Err(billing_error(orbit_billing::BillingError::NotConfigured)),
    }
}

fn plan<'a>(provider: &'a dyn BillingProvider, key: &str) -> ApiResult<&'a Plan> {
    plan_by_key(provider.plans(), key)
        .ok_or_else(|| ApiError::invalid("billing.plan_not_found", format!("no plan {key:?}")))
}

/// A redirect target: on a trusted origin (parsed, as auth callbacks are), else 422.
fn trusted_url(state: &AppState, field: &str, url: &str) -> ApiResult<String> {
    resolve_callback(&state.settings, url)
        .map(String::from)
        .map_err(|_| {
            ApiError::invalid(
                "billing.untrusted_url",
                format!("{field} must be on one of this app's origins"),
            )
        })
}

fn dto(state: &AppState, account: Option<&account::Model>) -> BillingDto {
    let provider = &state.capabilities.billing;
    let plan = account
        .and_then(|account| account.plan_key.as_deref())
        .and_then(|key| plan_by_key(provider.plans(), key));
    BillingDto {
        enabled: provider.enabled(),
        provider: provider.backend().to_owned(),
        plan: plan.map(PlanDto::from),
        subscription: account.and_then(SubscriptionDto::of),
        entitled: is_entitled(account, state.settings.billing_grace, Utc::now()),
    }
}

/// The workspace's account with a live subscription, or 409 `billing.no_subscription`.
async fn subscribed(state: &AppState, workspace_id: &str) -> ApiResult<account::Model> {
    find(&state.db, workspace_id)
        .await?
        .filter(has_live_subscription)
        .ok_or_else(|| {
            ApiError::conflict(
                "billing.no_subscription",
                "the workspace has no subscription",
            )
        })
}

impl BillingApi {
    /// Resolves the caller's access to manage billing, with the provider.
    async fn manager(
        state: &AppState,
        req: &Request,
        caller: &Authenticated,
        slug: &str,
    ) -> ApiResult<(Access, Arc<dyn BillingProvider>)> {
        let access = Access::resolve(&state.db, req, &caller.0, slug).await?;
        access.require(Permission::BillingManage)?;
        Ok((access, provider(state)?.clone()))
    }

    /// Writes the provider's answer into the account, records and announces it, and answers
    /// with it.
    async fn settle(
        state: &AppState,
        by: (Actor, Action),
        account: account::Model,
        subscription: &orbit_billing::Subscription,
    ) -> ApiResult<Json<BillingDto>> {
        let account = sync(state, by, account, subscription).await?;
        Ok(Json(dto(state, Some(&account))))
    }
}

#[OpenApi(tag = "ApiTags::Billing")]
impl BillingApi {
    /// The plans on sale (public)
    #[oai(
        path = "/v1/billing/plans",
        method = "get",
        operation_id = "billingPlans"
    )]
    async fn plans(&self, state: Data<&AppState>) -> ApiResult<Json<Vec<PlanDto>>> {
        let plans = state.capabilities.billing.plans();
        Ok(Json(plans.iter().map(PlanDto::from).collect()))
    }

    /// A workspace's plan and subscription (any member)
    #[oai(
        path = "/v1/workspaces/:slug/billing",
        method = "get",
        operation_id = "getBilling"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<Json<BillingDto>> {
        let access = Access::resolve(&state.db, req, &caller.0, &slug).await?;
        let account = find(&state.db, &access.workspace.id).await?;
        Ok(Json(dto(&state, account.as_ref())))
    }

    /// Start a checkout for a plan (`workspace.billing.manage`)
    ///
    /// 422 `billing.plan_not_found`, `billing.untrusted_url`; 409 `billing.already_subscribed`
    /// while a subscription is live (change its plan instead).
    #[oai(
        path = "/v1/workspaces/:slug/billing/checkout",
        method = "post",
        operation_id = "startCheckout"
    )]
    async fn checkout(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        body: Json<CheckoutBody>,
    ) -> ApiResult<Json<CheckoutStarted>> {
        let (access, provider) = Self::manager(&state, req, &caller, &slug).await?;
        let plan = plan(provider.as_ref(), &body.plan_key)?;
        let success_url = trusted_url(&state, "successUrl", &body.success_url)?;
        let cancel_url = trusted_url(&state, "cancelUrl", &body.cancel_url)?;
        let workspace = &access.workspace;
        let account = match find(&state.db, &workspace.id).await? {
            Some(account) if has_live_subscription(&account) => {
                return Err(ApiError::conflict(
                    "billing.already_subscribed",
                    "the workspace already has a subscription: change its plan instead",
                ));
            }
            Some(account) => account,
            None => {
                let user = &caller.0.user;
                let customer_id = provider
                    .create_customer(&user.email, &workspace.name, &workspace.id)
                    .await
                    .map_err(billing_error)?;
                ensure_account(&state.db, &workspace.id, &customer_id).await?
            }
        };
        let checkout = provider
            .start_checkout(CheckoutRequest {
                customer_id: &account.customer_id,
                price_id: &plan.price_id,
                quantity: quantity(&state.db, plan, &workspace.id).await?,
                trial_days: plan.trial_days,
                success_url: &success_url,
                cancel_url: &cancel_url,
                reference: &workspace.id,
            })
            .await
            .map_err(billing_error)?;
        let actor = Actor::caller(&state.settings, req, &caller.0);
        let entry = Entry::new(Action::CheckoutStarted, &workspace.id)
            .in_workspace(&workspace.id)
            .with(json!({"planKey": plan.key, "checkoutSessionId": checkout.session_id}));
        audit::record(&state.db, &actor, entry).await?;
        Ok(Json(CheckoutStarted {
            redirect_url: checkout.url,
            session_id: checkout.session_id,
        }))
    }

    /// Open the provider's customer portal (`workspace.billing.manage`)
    #[oai(
        path = "/v1/workspaces/:slug/billing/portal",
        method = "post",
        operation_id = "openBillingPortal"
    )]
    async fn portal(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        body: Json<PortalBody>,
    ) -> ApiResult<Json<PortalOpened>> {
        let (access, provider) = Self::manager(&state, req, &caller, &slug).await?;
        let return_url = trusted_url(&state, "returnUrl", &body.return_url)?;
        let account = find(&state.db, &access.workspace.id)
            .await?
            .ok_or_else(|| {
                ApiError::conflict("billing.no_customer", "the workspace has never subscribed")
            })?;
        let redirect_url = provider
            .portal(&account.customer_id, &return_url)
            .await
            .map_err(billing_error)?;
        Ok(Json(PortalOpened { redirect_url }))
    }

    /// Move the subscription to another plan, prorated (`workspace.billing.manage`)
    #[oai(
        path = "/v1/workspaces/:slug/billing/change-plan",
        method = "post",
        operation_id = "changePlan"
    )]
    async fn change_plan(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        body: Json<ChangePlanBody>,
    ) -> ApiResult<Json<BillingDto>> {
        let (access, provider) = Self::manager(&state, req, &caller, &slug).await?;
        let plan = plan(provider.as_ref(), &body.plan_key)?;
        let account = subscribed(&state, &access.workspace.id).await?;
        let id = account.subscription_id.clone().unwrap_or_default();
        let current = provider.subscription(&id).await.map_err(billing_error)?;
        let quantity = quantity(&state.db, plan, &access.workspace.id).await?;
        let changed = provider
            .change_plan(&current, &plan.price_id, quantity)
            .await
            .map_err(billing_error)?;
        let by = (
            Actor::caller(&state.settings, req, &caller.0),
            Action::PlanChanged,
        );
        Self::settle(&state, by, account, &changed).await
    }

    /// Cancel at the end of the paid period (`workspace.billing.manage`)
    #[oai(
        path = "/v1/workspaces/:slug/billing/cancel",
        method = "post",
        operation_id = "cancelSubscription"
    )]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        body: Json<CancelBody>,
    ) -> ApiResult<Json<BillingDto>> {
        if !body.at_period_end {
            return Err(ApiError::unprocessable(
                "atPeriodEnd must be true: a subscription ends with the period it paid for",
            ));
        }
        self.set_cancel(&state, req, &caller, &slug, true).await
    }

    /// Take back a cancellation before the period ends (`workspace.billing.manage`)
    #[oai(
        path = "/v1/workspaces/:slug/billing/resume",
        method = "post",
        operation_id = "resumeSubscription"
    )]
    async fn resume(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
    ) -> ApiResult<Json<BillingDto>> {
        self.set_cancel(&state, req, &caller, &slug, false).await
    }

    /// The workspace's invoices, newest first (`workspace.billing.manage`)
    #[oai(
        path = "/v1/workspaces/:slug/billing/invoices",
        method = "get",
        operation_id = "listInvoices"
    )]
    async fn invoices(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u64>>,
        #[oai(validator(max_length = 512))] cursor: Query<Option<String>>,
    ) -> ApiResult<Json<InvoicePage>> {
        let page = PageRequest::with_default(limit.0, cursor.0.as_deref(), 20)?;
        let (access, provider) = Self::manager(&state, req, &caller, &slug).await?;
        let Some(account) = find(&state.db, &access.workspace.id).await? else {
            return Ok(Json(InvoicePage {
                items: Vec::new(),
                next_cursor: None,
            }));
        };
        let after = page.after_id(INVOICES_LIST)?;
        let found = provider
            .invoices(&account.customer_id, page.limit, after.as_deref())
            .await
            .map_err(billing_error)?;
        let next_cursor = match found.has_more {
            true => found
                .invoices
                .last()
                .map(|last| cursor_of(&id_key(INVOICES_LIST, &last.id))),
            false => None,
        };
        let items = found
            .invoices
            .into_iter()
            .map(|invoice| InvoiceDto {
                id: invoice.id,
                number: invoice.number,
                status: invoice.status,
                amount_due: invoice.amount_due,
                amount_paid: invoice.amount_paid,
                currency: invoice.currency,
                created_at: DateTime::from_timestamp(invoice.created, 0)
                    .map(iso)
                    .unwrap_or_default(),
                hosted_invoice_url: invoice.hosted_invoice_url,
                pdf_url: invoice.pdf_url,
            })
            .collect();
        Ok(Json(InvoicePage { items, next_cursor }))
    }
}

impl BillingApi {
    async fn set_cancel(
        &self,
        state: &AppState,
        req: &Request,
        caller: &Authenticated,
        slug: &str,
        cancel: bool,
    ) -> ApiResult<Json<BillingDto>> {
        let (access, provider) = Self::manager(state, req, caller, slug).await?;
        let account = subscribed(state, &access.workspace.id).await?;
        let id = account.subscription_id.clone().unwrap_or_default();
        let changed = provider
            .cancel_at_period_end(&id, cancel)
            .await
            .map_err(billing_error)?;
        let action = match cancel {
            true => Action::SubscriptionCanceled,
            false => Action::SubscriptionResumed,
        };
        let by = (Actor::caller(&state.settings, req, &caller.0), action);
        Self::settle(state, by, account, &changed).await
    }
}
