use chrono::Utc;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi, payload::Json};
use sea_orm::{ActiveModelTrait, Set};

use poem::Request;
use poem::http::StatusCode;
use poem_openapi::param::Path;
use rand::Rng;

use crate::auth::address::EmailAddress;
use crate::auth::dev_links;
use crate::auth::entities::user;
use crate::auth::session::Authenticated;
use crate::auth::users::{self, NewUser};
use crate::error::{ApiError, ApiResult};
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::workspaces::access::Access;
use crate::workspaces::dto::SystemKey;
use crate::workspaces::events::Change;
use crate::workspaces::{members, roles};

#[derive(Default)]
pub struct DevApi;

#[derive(Debug, Object)]
#[oai(nullable_all)]
struct LastLink {
    link: Option<String>,
}

#[derive(Debug, Object)]
struct SeedRequest {
    /// How many members to add (default 5).
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "20")))]
    count: Option<u8>,
}

#[derive(Debug, Object)]
struct SeededMember {
    id: String,
    email: String,
    name: String,
}

#[derive(Debug, Object)]
struct Seeded {
    ok: bool,
    created: Vec<SeededMember>,
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
    /// The OAuth providers one can sign in with.
    social: Vec<String>,
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
        let link = match EmailAddress::parse(&email.0) {
            Ok(email) => dev_links::last_for(&state.db, email.as_str()).await?,
            Err(_) => None,
        };
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
        Ok(Json(ActiveProviders {
            node_env: state.settings.env.as_str().to_owned(),
            mailer: node_mailer_name(state.capabilities.mailer.backend()).to_owned(),
            social: state
                .capabilities
                .oauth
                .providers()
                .into_iter()
                .map(|provider| provider.id)
                .collect(),
        }))
    }

    /// Add made-up members (role Member) to a workspace you belong to
    #[oai(
        path = "/v1/dev/seed-members/:slug",
        method = "post",
        operation_id = "devSeedMembers"
    )]
    async fn seed_members(
        &self,
        state: Data<&AppState>,
        req: &Request,
        caller: Authenticated,
        slug: Path<String>,
        body: Json<SeedRequest>,
    ) -> ApiResult<Json<Seeded>> {
        let access = Access::resolve(&state.db, req, &caller.0, &slug).await?;
        let workspace_id = &access.workspace.id;
        let mut change = Change::by_caller(&state, req, &caller.0).await?;
        let role = roles::find_system(&*change, workspace_id, SystemKey::Member).await?;
        let mut created = Vec::new();
        for _ in 0..body.count.unwrap_or(5) {
            let (first, last, suffix) = {
                let mut rng = rand::rng();
                let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
                let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
                let suffix: String = (&mut rng)
                    .sample_iter(rand::distr::Alphanumeric)
                    .take(5)
                    .map(|c| char::from(c).to_ascii_lowercase())
                    .collect();
                (first, last, suffix)
            };
            let local = format!("{first}.{last}-{suffix}")
                .to_lowercase()
                .replace(' ', "-");
            let email = EmailAddress::parse(&format!("{local}@dev.orbit.local"))?;
            let name = format!("{first} {last}");
            let new = NewUser {
                email: &email,
                name: &name,
                image: None,
                email_verified: true,
                role: users::DEFAULT_ROLE,
            };
            let user = users::create(&*change, new, StatusCode::CONFLICT).await?;
            let now = Utc::now();
            let member = members::join(&mut change, workspace_id, &user, &role, now).await?;
            created.push(SeededMember {
                id: member.id,
                email: member.email,
                name: member.name,
            });
        }
        change.commit(&state).await?;
        Ok(Json(Seeded { ok: true, created }))
    }
}

/// The Node API names its mailers by class.
fn node_mailer_name(backend: &'static str) -> &'static str {
    match backend {
        "console" => "ConsoleMailer",
        "resend" => "ResendMailer",
        other => other,
    }
}

const FIRST_NAMES: [&str; 20] = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Donald", "Edsger", "Tony", "John", "Barbara",
    "Ken", "Bjarne", "Anders", "Brendan", "Guido", "Yukihiro", "James", "Rich", "Joe", "Sandi",
];
const LAST_NAMES: [&str; 20] = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Knuth",
    "Dijkstra",
    "Hoare",
    "McCarthy",
    "Liskov",
    "Thompson",
    "Stroustrup",
    "Hejlsberg",
    "Eich",
    "van Rossum",
    "Matsumoto",
    "Gosling",
    "Hickey",
    "Walke",
    "Metz",
];
