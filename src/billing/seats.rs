//! Per-seat plans: the subscription's quantity follows the workspace's member count. Every
//! change of members enqueues a sync in its own transaction; syncs of one workspace run one at
//! a time, a little later (joins in a burst then cost one call to the provider: the first sync
//! sets the count, the rest find it already right).

use std::time::Duration;

use chrono::Utc;
use orbit_billing::BillingError;
use orbit_jobs::{Handler, JobError, NewJob};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};

use super::{find, has_live_subscription, plan_by_key, plan_of_price, quantity, sync};
use crate::audit::{Action, Actor};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const SEATS_JOB: &str = "billing.seats";

/// How long after a change of members its seats are synced.
const DEBOUNCE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeatSync {
    workspace_id: String,
}

/// In `tx`: sync the workspace's seats once it commits (nothing when billing is off).
pub async fn enqueue(
    state: &AppState,
    tx: &DatabaseTransaction,
    workspace_id: &str,
) -> ApiResult<()> {
    if !state.capabilities.billing.enabled() {
        return Ok(());
    }
    let payload = SeatSync {
        workspace_id: workspace_id.to_owned(),
    };
    let job = NewJob::new(SEATS_JOB, &payload)
        .map_err(ApiError::internal)?
        .run_at(Utc::now() + DEBOUNCE)
        .queue(format!("billing-seats:{workspace_id}"));
    crate::jobs::enqueue(state, tx, job).await
}

pub fn seats_handler(state: AppState) -> Handler {
    Handler::typed(SEATS_JOB, move |_, request: SeatSync| {
        let state = state.clone();
        async move { sync_seats(&state, &request.workspace_id).await }
    })
    .max_attempts(12)
}

async fn sync_seats(state: &AppState, workspace_id: &str) -> Result<(), JobError> {
    let retry = |err: ApiError| JobError::retry(err.to_string());
    let Some(account) = find(&state.db, workspace_id).await.map_err(retry)? else {
        return Ok(());
    };
    let provider = &state.capabilities.billing;
    let live = has_live_subscription(&account);
    let per_seat_plan = live
        .then_some(account.plan_key.as_deref())
        .flatten()
        .and_then(|key| plan_by_key(provider.plans(), key))
        .filter(|plan| plan.per_seat);
    let Some(plan) = per_seat_plan else {
        return Ok(());
    };
    let seats = quantity(&state.db, plan, workspace_id)
        .await
        .map_err(retry)?;
    if account.quantity == seats as i64 {
        return Ok(());
    }
    let failed = |err: BillingError| match err {
        BillingError::Unreachable(_) => JobError::retry(err),
        _ => JobError::permanent(err),
    };
    let id = account.subscription_id.clone().unwrap_or_default();
    let current = provider.subscription(&id).await.map_err(failed)?;
    if plan_of_price(provider.plans(), &current.price_id).is_none_or(|plan| !plan.per_seat) {
        return Ok(());
    }
    let changed = provider
        .change_plan(&current, &plan.price_id, seats)
        .await
        .map_err(failed)?;
    let by = (Actor::system(), Action::SubscriptionUpdated);
    sync(state, by, account, &changed).await.map_err(retry)?;
    Ok(())
}
