//! Rate limits on the routes that mail someone or check a password: per client IP and per
//! target address, so neither one client nor many clients can hammer one mailbox or account.

use poem::Request;

use super::address::EmailAddress;
use super::request_meta::client_ip;
use crate::error::ApiResult;
use crate::rate_limit::{Limit, spend};
use crate::state::AppState;

/// A route's budgets: one per client IP, one per email address.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub route: &'static str,
    pub per_ip: Limit,
    pub per_email: Limit,
}

const fn per_minutes(hits: u32, minutes: u64) -> Limit {
    Limit {
        hits,
        window: std::time::Duration::from_secs(minutes * 60),
    }
}

pub const MAGIC_LINK: Budget = Budget {
    route: "magic-link",
    per_ip: per_minutes(20, 1),
    per_email: per_minutes(5, 10),
};
pub const SIGN_IN: Budget = Budget {
    route: "sign-in",
    per_ip: per_minutes(30, 1),
    per_email: per_minutes(10, 10),
};
pub const SIGN_UP: Budget = Budget {
    route: "sign-up",
    per_ip: per_minutes(10, 1),
    per_email: per_minutes(5, 10),
};
/// Verification, reset, email-change and account-deletion mails.
pub const MAIL: Budget = Budget {
    route: "mail",
    per_ip: per_minutes(10, 1),
    per_email: per_minutes(5, 10),
};
/// Checking the current password of a signed-in user.
pub const PASSWORD_CHECK: Budget = Budget {
    route: "password-check",
    per_ip: per_minutes(30, 1),
    per_email: per_minutes(10, 10),
};

/// Starting an OAuth sign-in (each start stores the flow's state until it returns or expires).
pub const SOCIAL: Budget = Budget {
    route: "social",
    per_ip: per_minutes(30, 1),
    per_email: per_minutes(30, 1),
};

/// Counts this request against `budget`'s per-IP part only (no address is known yet).
pub async fn check_ip(state: &AppState, req: &Request, budget: Budget) -> ApiResult<()> {
    let ip = client_ip(&state.settings, req).unwrap_or_default();
    let key = format!("{}:ip:{ip}", budget.route);
    spend(state.rate_limiter.as_ref(), &key, budget.per_ip).await
}

/// Counts this request against `budget`; 429 with `Retry-After` once either is spent.
pub async fn check(
    state: &AppState,
    req: &Request,
    budget: Budget,
    email: &EmailAddress,
) -> ApiResult<()> {
    let ip = client_ip(&state.settings, req).unwrap_or_default();
    let route = budget.route;
    for (key, limit) in [
        (format!("{route}:ip:{ip}"), budget.per_ip),
        (
            format!("{route}:email:{}", email.as_str()),
            budget.per_email,
        ),
    ] {
        spend(state.rate_limiter.as_ref(), &key, limit).await?;
    }
    Ok(())
}
