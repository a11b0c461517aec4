use chrono::Utc;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi, payload::Json};
use sea_orm::{ActiveModelTrait, Set};

use crate::auth::address::EmailAddress;
use crate::auth::entities::user;
use crate::auth::session::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::openapi::ApiTags;
use crate::state::AppState;

#[derive(Default)]
pub struct DevApi;

#[derive(Debug, Object)]
#[oai(nullable_all)]
struct LastLink {
    link: Option<String>,
}

#[derive(Debug, Object)]
struct MadeAdmin {
    ok: bool,
    role: String,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct ActiveProviders {
    node_env: String,
    mailer: String,
}

fn development_only(state: &AppState) -> ApiResult<()> {
    match state.settings.env.is_production() {
        true => Err(ApiError::no_route()),
        false => Ok(()),
    }
}

#[OpenApi(tag = "ApiTags::Dev")]
impl DevApi {
    /// The last magic link mailed to an address
    #[oai(
        path = "/v1/dev/last-magic-link",
        method = "get",
        operation_id = "devLastMagicLink"
    )]
    async fn last_magic_link(
        &self,
        state: Data<&AppState>,
        #[oai(validator(max_length = 320))] email: Query<String>,
    ) -> ApiResult<Json<LastLink>> {
        development_only(&state)?;
        let link = EmailAddress::parse(&email.0).ok().and_then(|email| {
            state
                .dev_links
                .as_ref()
                .and_then(|links| links.last_for(email.as_str()))
        });
        Ok(Json(LastLink { link }))
    }

    /// Make the signed-in user an admin
    #[oai(
        path = "/v1/dev/make-admin",
        method = "post",
        operation_id = "devMakeAdmin"
    )]
    async fn make_admin(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
    ) -> ApiResult<Json<MadeAdmin>> {
        development_only(&state)?;
        let mut active: user::ActiveModel = caller.0.user.into();
        active.role = Set("admin".to_owned());
        active.updated_at = Set(Utc::now());
        active.update(&state.db).await.map_err(ApiError::internal)?;
        Ok(Json(MadeAdmin {
            ok: true,
            role: "admin".into(),
        }))
    }

    /// Which environment and mailer this process runs with
    #[oai(
        path = "/v1/dev/active-providers",
        method = "get",
        operation_id = "devActiveProviders"
    )]
    async fn active_providers(&self, state: Data<&AppState>) -> ApiResult<Json<ActiveProviders>> {
        development_only(&state)?;
        Ok(Json(ActiveProviders {
            node_env: state.settings.env.as_str().to_owned(),
            mailer: state.capabilities.mailer.backend().to_owned(),
        }))
    }
}
