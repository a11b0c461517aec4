use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// When a scheduled job runs: a cron expression (`0 3 * * *`, `@hourly`, `@daily`; UTC) or a
/// fixed interval aligned to the epoch (`@every 30s`, `@every 5m`, `@every 1h`).
#[derive(Clone)]
pub struct Schedule {
    spec: String,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Every(TimeDelta),
    Cron(Box<croner::Cron>),
}

impl Schedule {
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Every(period) => {
                let period_ms = period.num_milliseconds();
                let next = (after.timestamp_millis().div_euclid(period_ms) + 1) * period_ms;
                DateTime::from_timestamp_millis(next)
            }
            Kind::Cron(cron) => cron.find_next_occurrence(&after, false).ok(),
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({})", self.spec)
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let spec = spec.trim();
        let kind = match spec.strip_prefix("@every") {
            Some(interval) => Kind::Every(parse_interval(interval.trim())?),
            None => {
                let expression = match spec {
                    "@hourly" => "0 * * * *",
                    "@daily" => "0 0 * * *",
                    other => other,
                };
                let cron = croner::Cron::from_str(expression)
                    .map_err(|err| format!("{spec:?} is not a cron expression: {err}"))?;
                Kind::Cron(Box::new(cron))
            }
        };
        Ok(Self {
            spec: spec.to_owned(),
            kind,
        })
    }
}

/// `30s`, `5m`, `1h`, `1d`: at least a second.
fn parse_interval(raw: &str) -> Result<TimeDelta, String> {
    let invalid = || format!("\"@every {raw}\" needs an interval like 30s, 5m, 1h or 1d");
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (amount, unit) = raw.split_at(split);
    let amount: u64 = amount.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => amount,
        "m" => amount * 60,
        "h" => amount * 3600,
        "d" => amount * 86_400,
        _ => return Err(invalid()),
    };
    match seconds {
        0 => Err(invalid()),
        seconds => TimeDelta::from_std(Duration::from_secs(seconds)).map_err(|_| invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;
    use chrono::{DateTime, Utc};

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    #[test]
    fn intervals_tick_on_multiples_of_their_period() {
        let schedule: Schedule = "@every 5m".parse().unwrap();
        let next = schedule.next_after(at("2026-12-05T10:07:30Z")).unwrap();
        assert_eq!(next, at("2026-12-05T10:10:00Z"));
        assert_eq!(
            schedule.next_after(next).unwrap(),
            at("2026-12-05T10:15:00Z")
        );
    }

    #[test]
    fn cron_expressions_and_shorthands() {
        let daily: Schedule = "@daily".parse().unwrap();
        assert_eq!(
            daily.next_after(at("2026-12-05T10:07:30Z")).unwrap(),
            at("2026-12-06T00:00:00Z")
        );
        let weekdays: Schedule = "30 9 * * MON-FRI".parse().unwrap();
        // 2026-12-05 is a Saturday.
        assert_eq!(
            weekdays.next_after(at("2026-12-05T10:00:00Z")).unwrap(),
            at("2026-12-07T09:30:00Z")
        );
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        for bad in ["@every", "@every 0s", "@every 5x", "61 * * * *", "nonsense"] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad} parsed");
        }
    }
}
