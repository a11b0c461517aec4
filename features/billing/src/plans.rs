//! The plans a deploy sells, from `BILLING_PLANS_JSON`: checked once at boot, each problem
//! named with the plan and field it is in.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    /// Ours, stable: what clients and the database name the plan by.
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The provider's price (`price_…`).
    pub price_id: String,
    /// In the currency's smallest unit (cents).
    pub unit_amount: i64,
    /// ISO 4217, lowercase (`usd`).
    pub currency: String,
    pub interval: Interval,
    #[serde(default = "one")]
    pub interval_count: u32,
    #[serde(default)]
    pub trial_days: Option<u32>,
    /// Billed per member: the quantity follows the workspace's member count.
    #[serde(default)]
    pub per_seat: bool,
    #[serde(default)]
    pub features: Vec<String>,
}

fn one() -> u32 {
    1
}

/// Reads and checks the plans; the error names the plan (by position) and the field.
pub fn parse_plans(json: &str) -> Result<Vec<Plan>, String> {
    let plans: Vec<Plan> = serde_json::from_str(json).map_err(|err| err.to_string())?;
    for (index, plan) in plans.iter().enumerate() {
        let at = |field: &str, rule: &str| format!("plan {index} ({:?}): {field} {rule}", plan.key);
        let key_ok = (1..=48).contains(&plan.key.len())
            && plan
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !key_ok {
            return Err(at("key", "must be 1 to 48 of a-z, 0-9, - and _"));
        }
        if plans[..index].iter().any(|other| other.key == plan.key) {
            return Err(at("key", "is used by an earlier plan"));
        }
        if plan.name.trim().is_empty() || plan.name.len() > 80 {
            return Err(at("name", "must be 1 to 80 characters"));
        }
        if plan.description.len() > 500 {
            return Err(at("description", "must be at most 500 characters"));
        }
        if !plan.price_id.starts_with("price_") || plan.price_id.len() > 255 {
            return Err(at("priceId", "must be a Stripe price id (price_…)"));
        }
        if plan.unit_amount < 0 {
            return Err(at("unitAmount", "must be 0 or more"));
        }
        if plan.currency.len() != 3 || !plan.currency.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(at(
                "currency",
                "must be a lowercase ISO 4217 code such as usd",
            ));
        }
        if !(1..=12).contains(&plan.interval_count) {
            return Err(at("intervalCount", "must be 1 to 12"));
        }
        if plan
            .trial_days
            .is_some_and(|days| !(1..=730).contains(&days))
        {
            return Err(at("trialDays", "must be 1 to 730"));
        }
        if plan.features.len() > 50 || plan.features.iter().any(|f| f.is_empty() || f.len() > 200) {
            return Err(at(
                "features",
                "must be at most 50 texts of 1 to 200 characters",
            ));
        }
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRO: &str = r#"{"key":"pro","name":"Pro","priceId":"price_1","unitAmount":1900,
        "currency":"usd","interval":"month","perSeat":true,"features":["Everything"]}"#;

    #[test]
    fn plans_read_with_defaults() {
        let plans = parse_plans(&format!("[{PRO}]")).unwrap();
        assert_eq!(plans[0].interval_count, 1);
        assert!(plans[0].per_seat);
        assert_eq!(plans[0].trial_days, None);
    }

    #[test]
    fn each_problem_names_its_plan_and_field() {
        let cases = [
            (PRO.replace("\"usd\"", "\"USD\""), "currency"),
            (PRO.replace("price_1", "prod_1"), "priceId"),
            (PRO.replace("\"pro\"", "\"Pro Plan\""), "key"),
            (PRO.replace("\"month\"", "\"fortnight\""), "unknown variant"),
            (
                PRO.replace("\"unitAmount\":1900,", ""),
                "missing field `unitAmount`",
            ),
            (
                PRO.replace("\"perSeat\"", "\"perseat\""),
                "unknown field `perseat`",
            ),
        ];
        for (plan, expected) in cases {
            let err = parse_plans(&format!("[{plan}]")).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        let err = parse_plans(&format!("[{PRO},{PRO}]")).unwrap_err();
        assert!(err.contains("plan 1 (\"pro\"): key is used"), "{err}");
    }
}
