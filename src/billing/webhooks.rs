//! Provider webhooks: verified, written to the ledger and acknowledged at once; the change
//! they announce is applied by a job (exactly once per event, retried through a provider
//! outage), which re-reads the subscription from the provider so events arriving out of order
//! still leave the latest state.

use chrono::Utc;
use orbit_billing::{BillingChange, BillingError};
use orbit_jobs::{Handler, JobError, NewJob};
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

use super::{account, has_live_subscription, sync, webhook_event};
use crate::audit::{Action, Actor};
use crate::error::{ApiError, ApiResult};
use crate::http::raw_json::RawJson;
use crate::openapi::ApiTags;
use crate::state::AppState;

/// Applies one webhook's subscription change (payload [`SyncRequest`]).
pub const SYNC_JOB: &str = "billing.sync";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    event_id: String,
    customer_id: String,
    subscription_id: String,
}

#[derive(Default)]
pub struct BillingWebhookApi;

#[derive(Debug, Object)]
struct Received {
    received: bool,
    /// True when this event was received before: nothing was done again.
    duplicate: bool,
}

fn webhook_error(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

#[OpenApi(tag = "ApiTags::Billing")]
impl BillingWebhookApi {
    /// Stripe's webhook endpoint (signed; no session, no Origin check)
    ///
    /// 400 `billing.webhook.invalid_signature` (also past Stripe's 5-minute tolerance), 400
    /// `billing.webhook.malformed`; 404 `billing.provider_not_configured` without Stripe. A
    /// replayed event answers `duplicate: true` and changes nothing.
    #[oai(
        path = "/v1/billing/webhooks/stripe",
        method = "post",
        operation_id = "stripeWebhook"
    )]
    async fn stripe(
        &self,
        state: Data<&AppState>,
        #[oai(name = "Stripe-Signature")] signature: Header<Option<String>>,
        body: RawJson,
    ) -> ApiResult<Json<Received>> {
        let provider = &state.capabilities.billing;
        if !provider.enabled() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "billing.provider_not_configured",
                "billing is not configured on this server",
            ));
        }
        let signature = signature.0.unwrap_or_default();
        let event = provider
            .parse_webhook(&body.0, &signature)
            .map_err(|err| match err {
                BillingError::MalformedEvent(cause) => {
                    tracing::warn!(error = %cause, "webhook with a valid signature but no event");
                    webhook_error(
                        "billing.webhook.malformed",
                        "the body is not a webhook event",
                    )
                }
                _ => webhook_error(
                    "billing.webhook.invalid_signature",
                    "the Stripe-Signature header does not match this body",
                ),
            })?;
        let tx = crate::db::begin_write(&state.db)
            .await
            .map_err(ApiError::internal)?;
        let seen = webhook_event::Entity::find_by_id(&event.id)
            .one(&tx)
            .await
            .map_err(ApiError::internal)?;
        if seen.is_some() {
            return Ok(Json(Received {
                received: true,
                duplicate: true,
            }));
        }
        let (processed_at, outcome) = match &event.change {
            BillingChange::Subscription {
                customer_id,
                subscription_id,
            } => {
                let sync = SyncRequest {
                    event_id: event.id.clone(),
                    customer_id: customer_id.clone(),
                    subscription_id: subscription_id.clone(),
                };
                // One customer's events apply one at a time.
                let job = NewJob::new(SYNC_JOB, &sync)
                    .map_err(ApiError::internal)?
                    .queue(format!("billing:{customer_id}"));
                crate::jobs::enqueue(&state, &tx, job).await?;
                (None, None)
            }
            BillingChange::Ignored => (Some(Utc::now()), Some("ignored".to_owned())),
        };
        let row = webhook_event::ActiveModel {
            id: Set(event.id.clone()),
            kind: Set(event.kind.chars().take(128).collect()),
            received_at: Set(Utc::now()),
            processed_at: Set(processed_at),
            outcome: Set(outcome),
        };
        // A replay racing this one fails here on the key, and its transaction (and job) with it.
        row.insert(&tx).await.map_err(|err| {
            crate::error::unique_or_internal(err, || {
                ApiError::conflict(
                    "billing.webhook.in_progress",
                    "this event is being received",
                )
            })
        })?;
        tx.commit().await.map_err(ApiError::internal)?;
        Ok(Json(Received {
            received: true,
            duplicate: false,
        }))
    }
}

/// Applies what a webhook announced: re-reads the subscription, writes it into the customer's
/// workspace account and announces it. An event for a customer no workspace has is recorded
/// and skipped.
pub fn sync_handler(state: AppState) -> Handler {
    Handler::typed(SYNC_JOB, move |_, request: SyncRequest| {
        let state = state.clone();
        async move {
            let outcome = apply_event(&state, &request).await?;
            let mut event: webhook_event::ActiveModel =
                webhook_event::Entity::find_by_id(&request.event_id)
                    .one(&state.db)
                    .await
                    .map_err(JobError::retry)?
                    .ok_or_else(|| JobError::permanent("the event left the ledger"))?
                    .into();
            event.processed_at = Set(Some(Utc::now()));
            event.outcome = Set(Some(outcome.to_owned()));
            event.update(&state.db).await.map_err(JobError::retry)?;
            Ok(())
        }
    })
    .max_attempts(12)
}

async fn apply_event(state: &AppState, request: &SyncRequest) -> Result<&'static str, JobError> {
    let account = account::Entity::find()
        .filter(account::Column::CustomerId.eq(&request.customer_id))
        .one(&state.db)
        .await
        .map_err(JobError::retry)?;
    let Some(account) = account else {
        tracing::warn!(event = %request.event_id, "webhook for a customer no workspace has");
        return Ok("unknown_customer");
    };
    let subscription = match state
        .capabilities
        .billing
        .subscription(&request.subscription_id)
        .await
    {
        Ok(subscription) => subscription,
        Err(BillingError::Unreachable(cause)) => return Err(JobError::retry(cause)),
        Err(err) => return Err(JobError::permanent(err)),
    };
    // An old subscription's news never overwrites the one the workspace has now.
    let tracked = account.subscription_id.as_deref();
    let replaces = tracked.is_none_or(|id| id == subscription.id)
        || !has_live_subscription(&account)
        || super::LIVE.contains(&subscription.status.as_str());
    if !replaces {
        return Ok("ignored");
    }
    let by = (Actor::system(), Action::SubscriptionUpdated);
    sync(state, by, account, &subscription)
        .await
        .map_err(|err| JobError::retry(err.to_string()))?;
    Ok("applied")
}
