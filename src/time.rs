use chrono::{DateTime, SecondsFormat, Utc};

/// ISO-8601 UTC with milliseconds and `Z`, as JavaScript's `Date.toISOString()` prints it.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn iso_now() -> String {
    iso(Utc::now())
}
