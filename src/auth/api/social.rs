//! better-auth's OAuth routes: social sign-in (`sign-in/social`, `callback/{id}`), its generic
//! OAuth plugin's (`sign-in/oauth2`, `oauth2/callback/{id}`), and `link-social`.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Form, Json};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use crate::auth::links::{Redirect, api_link};
use crate::auth::session::Authenticated;
use crate::auth::social::{self, Landing, Returned, Routes};
use crate::error::AuthResult;
use crate::http::string_field::Text;
use crate::openapi::ApiTags;
use crate::state::AppState;

#[derive(Default)]
pub struct SocialApi;

/// Where the browser lands after the provider, as a sign-in start asks.
#[derive(Debug, Object)]
struct Landings {
    /// Where a signed-in browser lands: relative, or on a trusted origin.
    #[oai(rename = "callbackURL")]
    callback_url: Option<Text<2048>>,
    /// Where a failure lands (default: `callbackURL`), with `?error=…`.
    #[oai(rename = "errorCallbackURL")]
    error_callback_url: Option<Text<2048>>,
    /// Where a first sign-in lands instead, when given.
    #[oai(rename = "newUserCallbackURL")]
    new_user_callback_url: Option<Text<2048>>,
    /// Answer `redirect: false` (the client navigates itself).
    #[oai(rename = "disableRedirect")]
    disable_redirect: Option<bool>,
}

impl Landings {
    fn landing(&self) -> Landing<'_> {
        Landing {
            callback: self.callback_url.as_deref(),
            error_callback: self.error_callback_url.as_deref(),
            new_user_callback: self.new_user_callback_url.as_deref(),
        }
    }
}

#[derive(Debug, Object)]
struct SocialSignIn {
    /// `google`, `github`, `apple` (those this deploy has keys for: `GET /v1/config`).
    provider: Text<32, 1>,
    #[oai(flatten)]
    landings: Landings,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct GenericSignIn {
    /// An OpenID Connect provider configured by issuer (`OIDC_PROVIDER_ID`, `OIDC_PROVIDERS`).
    provider_id: Text<32, 1>,
    #[oai(flatten)]
    landings: Landings,
}

#[derive(Debug, Object)]
struct LinkSocial {
    provider: Text<32, 1>,
    /// Where the browser lands once linked (or with `?error=…`).
    #[oai(rename = "callbackURL")]
    callback_url: Option<Text<2048>>,
}

#[derive(Debug, Object)]
struct ProviderRedirect {
    /// The provider's authorization page.
    url: String,
    /// True unless `disableRedirect` was asked for.
    redirect: bool,
}

/// What a provider posts back (Apple's `response_mode=form_post`); checked where it is sent
/// on to, the GET callback.
#[derive(Debug, Deserialize, Object)]
struct PostedCallback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn finish(
    state: &AppState,
    req: &Request,
    provider: &str,
    code: Option<String>,
    flow_state: Option<String>,
    error: Option<String>,
) -> AuthResult<Redirect> {
    let returned = Returned {
        code,
        state: flow_state,
        error,
    };
    Ok(Redirect::Found(
        social::finish(state, req, provider, returned).await?,
    ))
}

fn started(url: String, disable_redirect: Option<bool>) -> Json<ProviderRedirect> {
    Json(ProviderRedirect {
        url,
        redirect: !disable_redirect.unwrap_or(false),
    })
}

#[OpenApi(tag = "ApiTags::Auth")]
impl SocialApi {
    /// Sign in with a social provider
    ///
    /// Answers the provider's authorization URL to send the browser to. 404
    /// `PROVIDER_NOT_FOUND` for a provider this deploy has no keys for; 403
    /// `INVALID_CALLBACK_URL` for a landing off the trusted origins; 429 per IP.
    #[oai(
        path = "/v1/auth/sign-in/social",
        method = "post",
        operation_id = "signInSocial"
    )]
    async fn sign_in_social(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<SocialSignIn>,
    ) -> AuthResult<Json<ProviderRedirect>> {
        let (provider, landings) = (&body.provider, &body.landings);
        let routes = Some(Routes::Social);
        let url = social::begin(&state, req, provider, routes, landings.landing(), None);
        Ok(started(url.await?, landings.disable_redirect))
    }

    /// Sign in with an OpenID Connect provider (generic OAuth)
    ///
    /// As `sign-in/social`, for the providers configured by issuer.
    #[oai(
        path = "/v1/auth/sign-in/oauth2",
        method = "post",
        operation_id = "signInWithOAuth2"
    )]
    async fn sign_in_generic(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<GenericSignIn>,
    ) -> AuthResult<Json<ProviderRedirect>> {
        let (provider, landings) = (&body.provider_id, &body.landings);
        let routes = Some(Routes::Generic);
        let url = social::begin(&state, req, provider, routes, landings.landing(), None);
        Ok(started(url.await?, landings.disable_redirect))
    }

    /// Link a provider to the signed-in account
    ///
    /// The provider's account must carry the same email address (better-auth's rule).
    #[oai(
        path = "/v1/auth/link-social",
        method = "post",
        operation_id = "linkSocialAccount"
    )]
    async fn link_social(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        body: Json<LinkSocial>,
    ) -> AuthResult<Json<ProviderRedirect>> {
        let landing = Landing {
            callback: body.callback_url.as_deref(),
            error_callback: None,
            new_user_callback: None,
        };
        let user_id = Some(caller.0.user.id);
        let url = social::begin(&state, req, &body.provider, None, landing, user_id).await?;
        Ok(started(url, None))
    }

    /// A social provider's return
    ///
    /// Where the provider sends the browser back (`code` and `state`, or `error`). Redirects
    /// to the landing, or to the error landing with `?error=`: `state_mismatch`, `no_code`,
    /// `invalid_code`, `invalid_id_token`, `unable_to_get_user_info`, `email_not_found`,
    /// `account_not_linked`, `account_already_linked_to_different_user`,
    /// `email_doesn't_match`, `unable_to_create_user`, or the provider's own (`access_denied`).
    #[oai(
        path = "/v1/auth/callback/:id",
        method = "get",
        operation_id = "callbackOAuth"
    )]
    async fn callback(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(validator(max_length = 32))] id: Path<String>,
        #[oai(validator(max_length = 4096))] code: Query<Option<String>>,
        #[oai(name = "state", validator(max_length = 256))] flow_state: Query<Option<String>>,
        #[oai(validator(max_length = 256))] error: Query<Option<String>>,
    ) -> AuthResult<Redirect> {
        finish(&state, req, &id, code.0, flow_state.0, error.0).await
    }

    /// A social provider's return by form POST
    ///
    /// Apple posts its answer; it is sent on to the GET callback, where the browser presents
    /// the state cookie (a cross-site POST carries no SameSite=Lax cookie).
    #[oai(
        path = "/v1/auth/callback/:id",
        method = "post",
        operation_id = "callbackOAuthPost"
    )]
    async fn callback_post(
        &self,
        state: Data<&AppState>,
        #[oai(validator(max_length = 32))] id: Path<String>,
        body: Form<PostedCallback>,
    ) -> AuthResult<Redirect> {
        let fields = [
            ("code", body.code.as_deref()),
            ("state", body.state.as_deref()),
            ("error", body.error.as_deref()),
        ];
        let query: Vec<(&str, &str)> = fields
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| (key, value)))
            .collect();
        let path = format!("/v1/auth/callback/{}", id.as_str());
        Ok(Redirect::Found(api_link(&state.settings, &path, &query)))
    }

    /// An OpenID Connect provider's return (generic OAuth)
    #[oai(
        path = "/v1/auth/oauth2/callback/:providerId",
        method = "get",
        operation_id = "oAuth2Callback"
    )]
    async fn generic_callback(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(name = "providerId", validator(max_length = 32))] provider_id: Path<String>,
        #[oai(validator(max_length = 4096))] code: Query<Option<String>>,
        #[oai(name = "state", validator(max_length = 256))] flow_state: Query<Option<String>>,
        #[oai(validator(max_length = 256))] error: Query<Option<String>>,
    ) -> AuthResult<Redirect> {
        finish(&state, req, &provider_id, code.0, flow_state.0, error.0).await
    }
}
