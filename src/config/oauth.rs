//! The sign-in providers: `GOOGLE_*`, `GITHUB_*`, `APPLE_*`, and OpenID Connect issuers from
//! `OIDC_ISSUER` + `OIDC_CLIENT_ID` + `OIDC_CLIENT_SECRET` or `OIDC_PROVIDERS` (a JSON list).

use orbit_oauth::{OAuthSettings, ProviderKind, ProviderSettings};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::Vars;

/// Ids a configured provider may not take: the password account's, and the built-in ones.
const RESERVED_IDS: [&str; 4] = ["credential", "google", "github", "apple"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OidcEntry {
    id: String,
    issuer: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    scopes: Vec<String>,
}

impl Vars {
    pub(super) fn oauth(&mut self) -> OAuthSettings {
        let mut providers = Vec::new();
        let github_web = self.url("GITHUB_URL");
        let github_api = self.url("GITHUB_API_URL");
        let builtin = [
            ("GOOGLE", "google", Some(ProviderKind::Google)),
            ("APPLE", "apple", Some(ProviderKind::Apple)),
            ("GITHUB", "github", None),
        ];
        for (prefix, id, kind) in builtin {
            let kind = kind.unwrap_or_else(|| ProviderKind::GitHub {
                web: github_web
                    .clone()
                    .unwrap_or_else(|| "https://github.com/".parse().expect("a URL")),
                api: github_api
                    .clone()
                    .unwrap_or_else(|| "https://api.github.com/".parse().expect("a URL")),
            });
            if let Some((client_id, client_secret)) = self.client_pair(prefix) {
                providers.push(ProviderSettings {
                    id: id.to_owned(),
                    kind,
                    client_id,
                    client_secret,
                    scopes: Vec::new(),
                });
            }
        }
        if let Some((client_id, client_secret)) = self.client_pair("OIDC") {
            let id = self.get("OIDC_PROVIDER_ID").unwrap_or("oidc").to_owned();
            let raw = self.get("OIDC_ISSUER").map(str::to_owned);
            match self.issuer("OIDC_ISSUER", raw.as_deref()) {
                Some(issuer) => providers.push(ProviderSettings {
                    id,
                    kind: ProviderKind::Oidc { issuer },
                    client_id,
                    client_secret,
                    scopes: Vec::new(),
                }),
                None if raw.is_none() => self
                    .problems
                    .push("OIDC_ISSUER is required when OIDC_CLIENT_ID is set".to_owned()),
                None => {}
            }
        }
        if let Some(json) = self.get("OIDC_PROVIDERS").map(str::to_owned) {
            match serde_json::from_str::<Vec<OidcEntry>>(&json) {
                Ok(entries) => {
                    for (index, entry) in entries.into_iter().enumerate() {
                        let name = format!("OIDC_PROVIDERS[{index}].issuer");
                        if let Some(issuer) = self.issuer(&name, Some(&entry.issuer)) {
                            providers.push(ProviderSettings {
                                id: entry.id,
                                kind: ProviderKind::Oidc { issuer },
                                client_id: entry.client_id,
                                client_secret: entry.client_secret.into(),
                                scopes: entry.scopes,
                            });
                        }
                    }
                }
                Err(err) => self.problems.push(format!(
                    "OIDC_PROVIDERS must be a JSON list of {{id, issuer, clientId, clientSecret, \
                     scopes?}}: {err}"
                )),
            }
        }
        self.check_ids(&providers);
        OAuthSettings { providers }
    }

    /// `<PREFIX>_CLIENT_ID` and `<PREFIX>_CLIENT_SECRET`, both or neither.
    fn client_pair(&mut self, prefix: &str) -> Option<(String, SecretString)> {
        let id_var = format!("{prefix}_CLIENT_ID");
        let secret_var = format!("{prefix}_CLIENT_SECRET");
        match (self.get(&id_var), self.get(&secret_var)) {
            (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned().into())),
            (None, None) => None,
            (Some(_), None) => {
                let problem = format!("{secret_var} is required when {id_var} is set");
                self.problems.push(problem);
                None
            }
            (None, Some(_)) => {
                let problem = format!("{id_var} is required when {secret_var} is set");
                self.problems.push(problem);
                None
            }
        }
    }

    /// An issuer URL: https, or http on a loopback host (a provider run for tests).
    fn issuer(&mut self, name: &str, raw: Option<&str>) -> Option<Url> {
        let raw = raw?;
        let url = Url::parse(raw).ok().filter(|url| match url.scheme() {
            "https" => true,
            "http" => matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
            _ => false,
        });
        if url.is_none() {
            self.problems.push(format!(
                "{name} must be an https URL (http only on localhost) (got {raw:?})"
            ));
        }
        url
    }

    fn check_ids(&mut self, providers: &[ProviderSettings]) {
        let generic = providers
            .iter()
            .filter(|provider| matches!(provider.kind, ProviderKind::Oidc { .. }));
        let mut seen = std::collections::BTreeSet::new();
        for provider in generic {
            let id = provider.id.as_str();
            let well_formed = (1..=32).contains(&id.len())
                && id
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
            if !well_formed {
                self.problems.push(format!(
                    "OIDC provider id {id:?} must be 1 to 32 of a-z, 0-9 and -"
                ));
            } else if RESERVED_IDS.contains(&id) || !seen.insert(id) {
                self.problems.push(format!(
                    "OIDC provider id {id:?} is taken (by another provider or a built-in one)"
                ));
            }
        }
    }
}
