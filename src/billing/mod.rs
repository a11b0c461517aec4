//! Billing: each workspace's subscription at the provider, mirrored in `billing_accounts`
//! (the provider is the truth; webhooks and our own changes bring the mirror up to date), and
//! the one question the rest of the app asks: is this workspace entitled?

pub mod account;
pub mod api;
pub mod seats;
pub mod webhook_event;
pub mod webhooks;

use std::time::Duration;

use chrono::{DateTime, Utc};
use orbit_billing::{BillingError, Plan, Subscription};
use poem::http::StatusCode;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::json;

use crate::audit::{Action, Actor, Entry};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workspaces::events::{Change, WorkspaceEvent};

/// Statuses that count as a live subscription: a checkout cannot start while one is.
pub(crate) const LIVE: [&str; 4] = ["active", "trialing", "past_due", "unpaid"];

/// A provider failure as the client sees it.
pub fn billing_error(err: BillingError) -> ApiError {
    match err {
        BillingError::NotConfigured => ApiError::conflict(
            "billing.provider_not_configured",
            "billing is not configured on this server",
        ),
        BillingError::Unreachable(cause) => {
            tracing::warn!(error = %cause, "billing provider unreachable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "billing.provider_unavailable",
                "the billing provider is unavailable, try again shortly",
            )
        }
        BillingError::NotFound => ApiError::conflict(
            "billing.no_subscription",
            "the subscription no longer exists at the billing provider",
        ),
        other => {
            tracing::error!(error = %other, "billing provider refused a request");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "billing.provider_error",
                "the billing provider refused the request",
            )
        }
    }
}

/// Whether a subscription in this state entitles its workspace: active or trialing, or past
/// due for less than `grace`.
pub fn is_entitled(account: Option<&account::Model>, grace: Duration, now: DateTime<Utc>) -> bool {
    let Some(account) = account else {
        return false;
    };
    match account.status.as_deref() {
        Some("active" | "trialing") => true,
        Some("past_due") => account.past_due_since.is_some_and(|since| {
            now - since < chrono::Duration::from_std(grace).unwrap_or_default()
        }),
        _ => false,
    }
}

/// Whether the workspace may use what its plan pays for: the one check domain code makes.
pub async fn workspace_entitled(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    grace: Duration,
) -> ApiResult<bool> {
    let account = find(db, workspace_id).await?;
    Ok(is_entitled(account.as_ref(), grace, Utc::now()))
}

pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: &str,
) -> ApiResult<Option<account::Model>> {
    account::Entity::find_by_id(workspace_id)
        .one(db)
        .await
        .map_err(ApiError::internal)
}

/// Whether the account has a subscription that is not over.
pub fn has_live_subscription(account: &account::Model) -> bool {
    account.subscription_id.is_some()
        && account.status.as_deref().is_some_and(|s| LIVE.contains(&s))
}

/// The configured plan named `key`.
pub fn plan_by_key<'a>(plans: &'a [Plan], key: &str) -> Option<&'a Plan> {
    plans.iter().find(|plan| plan.key == key)
}

/// How many the plan bills for: the members, for a per-seat plan.
pub async fn quantity(
    db: &impl ConnectionTrait,
    plan: &Plan,
    workspace_id: &str,
) -> ApiResult<u64> {
    match plan.per_seat {
        true => Ok(crate::workspaces::members::count(db, workspace_id)
            .await?
            .max(1)),
        false => Ok(1),
    }
}

/// The plan a price belongs to.
pub fn plan_of_price<'a>(plans: &'a [Plan], price_id: &str) -> Option<&'a Plan> {
    plans.iter().find(|plan| plan.price_id == price_id)
}

fn at(seconds: Option<i64>) -> Option<DateTime<Utc>> {
    seconds.and_then(|seconds| DateTime::from_timestamp(seconds, 0))
}

/// Writes what the provider says of `subscription` into `account`; returns the new row.
async fn apply(
    db: &impl ConnectionTrait,
    account: account::Model,
    subscription: &Subscription,
    plans: &[Plan],
) -> ApiResult<account::Model> {
    let now = Utc::now();
    let past_due_since = match subscription.status.as_str() {
        "past_due" => account.past_due_since.or(Some(now)),
        _ => None,
    };
    let row = account::Model {
        subscription_id: Some(subscription.id.clone()),
        plan_key: plan_of_price(plans, &subscription.price_id).map(|plan| plan.key.clone()),
        status: Some(subscription.status.clone()),
        quantity: subscription.quantity as i64,
        current_period_end: at(subscription.current_period_end),
        cancel_at_period_end: subscription.cancel_at_period_end,
        trial_end: at(subscription.trial_end),
        past_due_since,
        updated_at: now,
        ..account
    };
    let changes = row.clone().into_active_model().reset_all();
    changes.update(db).await.map_err(ApiError::internal)
}

/// Before a workspace is deleted: ends its subscription at the provider, or refuses with 409
/// `billing.active_subscription` while the provider cannot be told (the customer would go on
/// paying for a workspace that no longer exists).
pub async fn end_subscription(state: &AppState, workspace_id: &str) -> ApiResult<()> {
    let Some(account) = find(&state.db, workspace_id)
        .await?
        .filter(has_live_subscription)
    else {
        return Ok(());
    };
    let provider = &state.capabilities.billing;
    if !provider.enabled() {
        tracing::warn!(
            workspace_id,
            "deleting a workspace whose subscription billing can no longer reach"
        );
        return Ok(());
    }
    let id = account.subscription_id.as_deref().unwrap_or_default();
    provider.cancel_now(id).await.map_err(|err| {
        tracing::warn!(error = %err, workspace_id, "subscription not canceled");
        ApiError::conflict(
            "billing.active_subscription",
            "the workspace's subscription could not be canceled at the billing provider; try again shortly",
        )
    })
}

/// Writes the provider's `subscription` into `account`, records `action` by `actor` in the
/// audit log and tells the workspace's sockets (`billing.subscription.updated`), in one
/// change. The system's news ([`Action::SubscriptionUpdated`]) is recorded only when it
/// changes what the workspace has.
pub async fn sync(
    state: &AppState,
    (actor, action): (Actor, Action),
    account: account::Model,
    subscription: &Subscription,
) -> ApiResult<account::Model> {
    let mut change = Change::begin(&state.db, actor).await?;
    let plans = state.capabilities.billing.plans();
    let before = standing(&account);
    let account = apply(&*change, account, subscription, plans).await?;
    let after = standing(&account);
    if action != Action::SubscriptionUpdated || before != after {
        let data = json!({"previous": before, "current": after});
        let workspace_id = &account.workspace_id;
        let entry = Entry::new(action, workspace_id).in_workspace(workspace_id);
        change.audit(entry.with(data)).await?;
    }
    change.record(WorkspaceEvent::BillingUpdated {
        workspace_id: account.workspace_id.clone(),
        subscription: api::SubscriptionDto::of(&account),
        entitled: is_entitled(Some(&account), state.settings.billing_grace, Utc::now()),
    });
    change.commit(state).await?;
    Ok(account)
}

/// What the audit log says of a subscription.
fn standing(account: &account::Model) -> serde_json::Value {
    json!({
        "planKey": account.plan_key,
        "status": account.status,
        "cancelAtPeriodEnd": account.cancel_at_period_end,
        "quantity": account.quantity,
    })
}

/// The workspace's account, creating its row for `customer_id` if it has none yet. Two
/// requests racing here keep the first customer (the second is left unused at the provider).
pub async fn ensure_account(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    customer_id: &str,
) -> ApiResult<account::Model> {
    let row = account::ActiveModel {
        workspace_id: Set(workspace_id.to_owned()),
        customer_id: Set(customer_id.to_owned()),
        subscription_id: Set(None),
        plan_key: Set(None),
        status: Set(None),
        quantity: Set(0),
        current_period_end: Set(None),
        cancel_at_period_end: Set(false),
        trial_end: Set(None),
        past_due_since: Set(None),
        updated_at: Set(Utc::now()),
    };
    account::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec(db)
        .await
        .map_err(ApiError::internal)?;
    find(db, workspace_id)
        .await?
        .ok_or_else(|| ApiError::internal("the billing account vanished after its insert"))
}
