//! The origins section: the public API, web and www origins, and the extra web origins.

use url::Url;

use super::{AppEnv, Vars};

const DEV_API_ORIGIN: &str = "http://localhost:4002";
const DEV_WEB_ORIGIN: &str = "http://localhost:4001";
const DEV_WWW_ORIGIN: &str = "http://localhost:4000";

/// Public origins, each normalised to `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origins {
    pub api: String,
    pub web: String,
    pub www: String,
    pub additional: Vec<String>,
}

impl Origins {
    /// The CORS allow-list: web, www and the additional origins, each with its loopback twin
    /// (`localhost` ⇄ `127.0.0.1`). The API's own origin is not a CORS origin.
    pub fn cors_allowed(&self) -> Vec<String> {
        with_loopback_twins([&self.web, &self.www].into_iter().chain(&self.additional))
    }

    /// Origins trusted by the auth routes (request `Origin`, callback URLs): the CORS list
    /// plus the API's own origin.
    pub fn trusted(&self) -> Vec<String> {
        with_loopback_twins(
            [&self.api, &self.web, &self.www]
                .into_iter()
                .chain(&self.additional),
        )
    }

    /// Whether `origin` (`scheme://host[:port]`) is one of [`Origins::trusted`].
    pub fn is_trusted(&self, origin: &str) -> bool {
        self.trusted().iter().any(|trusted| trusted == origin)
    }
}

fn with_loopback_twins<'a>(origins: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut expanded = Vec::new();
    for origin in origins {
        for candidate in with_loopback_twin(origin) {
            if !expanded.contains(&candidate) {
                expanded.push(candidate);
            }
        }
    }
    expanded
}

fn with_loopback_twin(origin: &str) -> Vec<String> {
    let twin = if origin.contains("://localhost") {
        Some(origin.replacen("://localhost", "://127.0.0.1", 1))
    } else if origin.contains("://127.0.0.1") {
        Some(origin.replacen("://127.0.0.1", "://localhost", 1))
    } else {
        None
    };
    std::iter::once(origin.to_owned()).chain(twin).collect()
}

impl Vars {
    pub(super) fn origins(&mut self, env: AppEnv) -> Origins {
        let api = self.origin("API_ORIGIN", DEV_API_ORIGIN, env);
        let web = self.origin("WEB_ORIGIN", DEV_WEB_ORIGIN, env);
        let www = self.origin("WWW_ORIGIN", DEV_WWW_ORIGIN, env);
        let additional = self
            .get("ADDITIONAL_WEB_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_iter()
            .filter_map(|raw| self.checked_origin("ADDITIONAL_WEB_ORIGINS", &raw))
            .collect();
        Origins {
            api,
            web,
            www,
            additional,
        }
    }

    fn origin(&mut self, name: &str, dev_default: &str, env: AppEnv) -> String {
        match (self.get(name).map(str::to_owned), env) {
            (Some(raw), _) => self.checked_origin(name, &raw).unwrap_or_default(),
            (None, AppEnv::Production) => {
                self.problems
                    .push(format!("{name} is required in production"));
                String::new()
            }
            (None, _) => dev_default.to_owned(),
        }
    }

    fn checked_origin(&mut self, name: &str, raw: &str) -> Option<String> {
        match Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
                Some(url.origin().ascii_serialization())
            }
            _ => {
                let problem = format!(
                    "{name} must be an http(s) origin like https://app.example.com (got {raw:?})"
                );
                self.problems.push(problem);
                None
            }
        }
    }
}
