//! Settings from the environment: development defaults, production requirements, bad values.

use std::collections::HashMap;

use std::time::Duration;

use orbit::config::{AppEnv, BusBackend, ConfigError, LogFormat, Settings};
use secrecy::ExposeSecret;

use crate::helpers::PRODUCTION_REQUIRED;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn problems(vars: &[(&str, &str)]) -> Vec<String> {
    Settings::from_vars(vars.iter().copied())
        .expect_err("these settings are invalid")
        .problems
}

const PRODUCTION: [(&str, &str); 6] = [
    ("APP_ENV", "production"),
    ("DATABASE_URL", "postgres://orbit@db.internal:5432/orbit"),
    ("AUTH_SECRET", SECRET),
    ("API_ORIGIN", "https://api.orbit.test"),
    ("WEB_ORIGIN", "https://app.orbit.test"),
    ("WWW_ORIGIN", "https://orbit.test"),
];

/// A complete production environment with `overrides` on top (a blank value unsets).
fn production(overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut vars = HashMap::from(PRODUCTION);
    vars.extend(overrides.iter().copied());
    Settings::from_vars(vars)
}

#[test]
fn development_runs_with_no_environment_at_all() {
    let settings = Settings::from_vars([]).unwrap();
    assert_eq!(settings.env, AppEnv::Development);
    assert_eq!(settings.port, 4002);
    assert!(settings.database.is_sqlite());
    assert_eq!(settings.origins.api, "http://localhost:4002");
    assert_eq!(settings.origins.web, "http://localhost:4001");
    assert_eq!(settings.origins.www, "http://localhost:4000");
    assert_eq!(settings.log.format, LogFormat::Pretty);
    assert!(settings.auth_secret.expose_secret().len() >= 32);
    assert!(settings.warnings.iter().any(|w| w.contains("AUTH_SECRET")));
}

#[test]
fn production_names_every_missing_variable_at_once() {
    let problems = problems(&[("APP_ENV", "production")]).join("\n");
    for name in PRODUCTION_REQUIRED {
        assert!(problems.contains(name), "{name} missing from:\n{problems}");
    }
}

#[test]
fn a_complete_production_config_loads_with_json_logs() {
    let settings = production(&[("CLIENT_IP_HEADER", "fly-client-ip")]).unwrap();
    assert!(settings.env.is_production());
    assert_eq!(settings.log.format, LogFormat::Json);
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    assert!(settings.email.redact_console_log);
}

#[test]
fn production_without_a_client_ip_header_warns_that_clients_share_one_budget() {
    let warnings = production(&[]).unwrap().warnings.join("\n");
    assert!(
        warnings.contains("CLIENT_IP_HEADER is not set"),
        "{warnings}"
    );
    assert!(warnings.contains("fly-client-ip"), "{warnings}");
    assert!(warnings.contains("x-forwarded-for"), "{warnings}");
}

#[test]
fn production_refuses_a_short_secret_and_sqlite() {
    let err = production(&[
        ("AUTH_SECRET", "short"),
        ("DATABASE_URL", "sqlite://orbit.db"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("AUTH_SECRET must be at least 32 bytes"),
        "{err}"
    );
    assert!(
        err.contains("DATABASE_URL must be a Postgres URL in production"),
        "{err}"
    );
}

#[test]
fn better_auth_secret_is_an_alias() {
    let settings = production(&[("AUTH_SECRET", ""), ("BETTER_AUTH_SECRET", SECRET)]).unwrap();
    assert_eq!(settings.auth_secret.expose_secret(), SECRET);
}

#[test]
fn invalid_values_are_named() {
    let problems = problems(&[
        ("PORT", "abc"),
        ("API_ORIGIN", "not a url"),
        ("WEB_ORIGIN", "ftp://files.test"),
        ("DATABASE_URL", "mysql://x"),
        ("LOG_FORMAT", "xml"),
        ("APP_ENV", "staging"),
        ("BODY_LIMIT_BYTES", "-1"),
    ])
    .join("\n");
    for name in [
        "PORT must be",
        "API_ORIGIN must be",
        "WEB_ORIGIN must be",
        "DATABASE_URL must start with",
        "LOG_FORMAT must be",
        "APP_ENV must be",
        "BODY_LIMIT_BYTES must be",
    ] {
        assert!(
            problems.contains(name),
            "{name:?} missing from:\n{problems}"
        );
    }
}

#[test]
fn a_realtime_backend_without_what_it_needs_is_named() {
    let bogus = problems(&[("REALTIME_BACKEND", "kafka")]).join("\n");
    assert!(
        bogus.contains("REALTIME_BACKEND must be auto, in-process"),
        "{bogus}"
    );
    for (backend, needs) in [
        ("redis", "needs REDIS_URL"),
        ("nats", "needs NATS_URL"),
        ("postgres", "needs a Postgres DATABASE_URL"),
    ] {
        let problems = problems(&[("REALTIME_BACKEND", backend)]).join("\n");
        assert!(problems.contains(needs), "{backend}: {problems}");
    }
    let grace = problems(&[("PRESENCE_OFFLINE_GRACE_SECS", "601")]).join("\n");
    assert!(
        grace.contains("PRESENCE_OFFLINE_GRACE_SECS must be at most 600"),
        "{grace}"
    );

    let chosen = production(&[
        ("REALTIME_BACKEND", "nats"),
        ("NATS_URL", "nats://nats.internal:4222"),
        ("REDIS_URL", "redis://:hunter2@redis.internal:6379"),
    ])
    .unwrap();
    assert_eq!(chosen.realtime.backend, Some(BusBackend::Nats));
    assert!(
        !format!("{chosen:?}").contains("hunter2"),
        "bus URLs carry passwords: never printed"
    );
    assert_eq!(chosen.realtime.offline_grace, Duration::from_secs(30));
}

#[test]
fn app_port_is_honoured_when_port_is_unset() {
    let settings = Settings::from_vars([("APP_PORT", "8080")]).unwrap();
    assert_eq!(settings.port, 8080);
    let both = Settings::from_vars([("APP_PORT", "8080"), ("PORT", "9090")]).unwrap();
    assert_eq!(both.port, 9090);
}

#[test]
fn origins_are_normalised_and_cors_adds_loopback_twins() {
    let settings = Settings::from_vars([
        ("WEB_ORIGIN", "http://localhost:4001/"),
        ("WWW_ORIGIN", "https://orbit.test/some/path"),
        (
            "ADDITIONAL_WEB_ORIGINS",
            "http://127.0.0.1:5173, https://admin.orbit.test",
        ),
    ])
    .unwrap();
    assert_eq!(settings.origins.web, "http://localhost:4001");
    assert_eq!(settings.origins.www, "https://orbit.test");
    assert_eq!(
        settings.origins.cors_allowed(),
        [
            "http://localhost:4001",
            "http://127.0.0.1:4001",
            "https://orbit.test",
            "http://127.0.0.1:5173",
            "http://localhost:5173",
            "https://admin.orbit.test",
        ]
    );
}

#[test]
fn half_configured_email_is_a_boot_error() {
    let err = problems(&[("RESEND_API_KEY", "re_123")]).join("\n");
    assert!(err.contains("RESEND_FROM is required"), "{err}");
}

#[test]
fn job_settings_are_checked_at_boot() {
    let bad = [
        (
            "JOBS_BACKEND",
            "redis",
            "JOBS_BACKEND must be database or inline",
        ),
        (
            "JOBS_CONCURRENCY",
            "0",
            "JOBS_CONCURRENCY must be 1 to 1024",
        ),
        ("JOBS_LEASE_SECS", "1", "JOBS_LEASE_SECS must be 2 to 86400"),
        (
            "JOBS_RETENTION_DAYS",
            "0",
            "JOBS_RETENTION_DAYS must be 1 to 3650",
        ),
        ("JOBS_POLL_MS", "5", "JOBS_POLL_MS must be 10 to 60000"),
        (
            "JOBS_SCHEDULES",
            "auth.prune",
            "JOBS_SCHEDULES entries are name=schedule",
        ),
        (
            "JOBS_SCHEDULES",
            "auth.prune=@every 5x",
            "JOBS_SCHEDULES auth.prune",
        ),
        (
            "INVITE_RETENTION_DAYS",
            "0",
            "INVITE_RETENTION_DAYS must be 1 to 3650",
        ),
        (
            "AUDIT_RETENTION_DAYS",
            "4000",
            "AUDIT_RETENTION_DAYS must be 1 to 3650",
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector:4318",
            "OTEL_EXPORTER_OTLP_ENDPOINT must be the collector's http(s) URL",
        ),
    ];
    for (name, value, expected) in bad {
        let problems = problems(&[(name, value)]).join("\n");
        assert!(problems.contains(expected), "{name}={value}: {problems}");
    }
    let traced = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
    let sampler = problems(&[traced, ("OTEL_TRACES_SAMPLER", "sometimes")]).join("\n");
    assert!(sampler.contains("OTEL_TRACES_SAMPLER must be one of always_on"));
    let ratio = problems(&[traced, ("OTEL_TRACES_SAMPLER_ARG", "10%")]).join("\n");
    assert!(ratio.contains("OTEL_TRACES_SAMPLER_ARG must be the share of traces kept"));
    let headers = problems(&[traced, ("OTEL_EXPORTER_OTLP_HEADERS", "api-key")]).join("\n");
    assert!(headers.contains("OTEL_EXPORTER_OTLP_HEADERS must be name=value pairs"));
    let fine = [
        traced,
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x-team=orbit"),
    ];
    let traces = Settings::from_vars(fine).unwrap().traces.unwrap();
    assert_eq!(traces.headers[0], ("api-key".to_owned(), "a b".to_owned()));
    let settings = Settings::from_vars([
        (
            "JOBS_SCHEDULES",
            "auth.prune=@every 10m; invites.prune=0 3 * * *",
        ),
        ("JOBS_IN_PROCESS", "false"),
    ])
    .unwrap();
    let names: Vec<_> = settings
        .jobs
        .schedules
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(names, ["auth.prune", "invites.prune"]);
    assert!(!settings.jobs.work_in_process);
    let inline = production(&[("JOBS_BACKEND", "inline")]).unwrap();
    assert!(
        inline
            .warnings
            .iter()
            .any(|warning| warning.contains("JOBS_BACKEND=inline"))
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let settings = production(&[
        ("RESEND_API_KEY", "re_super_secret_key"),
        ("RESEND_FROM", "Orbit <no-reply@orbit.test>"),
        (
            "DATABASE_URL",
            "postgres://orbit:db-password@db.internal/orbit",
        ),
    ])
    .unwrap();
    let debug = format!("{settings:?}");
    for secret in [SECRET, "re_super_secret_key", "db-password"] {
        assert!(!debug.contains(secret), "{secret} leaked in {debug}");
    }
}

#[test]
fn metrics_settings_are_checked() {
    assert_eq!(
        problems(&[("METRICS_TOKEN", "short")]),
        ["METRICS_TOKEN must be at least 16 characters"]
    );
    assert_eq!(
        problems(&[("PORT", "4002"), ("METRICS_PORT", "4002")]),
        ["METRICS_PORT must differ from the main port (4002): it is the private one"]
    );
}
