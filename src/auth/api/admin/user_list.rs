//! better-auth's `admin/list-users`, at any size: searches and sorts through indexes, a total
//! that never counts a million rows, `offset` paging (capped) for better-auth's client and
//! cursor paging for deep pages.

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{Enum, Object, OpenApi, payload::Json};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    FromQueryResult, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select, Statement,
};

use super::require;
use crate::auth::dto::AuthUser;
use crate::auth::entities::user;
use crate::auth::session::Authenticated;
use crate::db;
use crate::error::{ApiError, ApiResult, AuthResult};
use crate::http::pagination::{PageRequest, past, text_key, time_key};
use crate::openapi::ApiTags;
use crate::state::AppState;
use crate::trigrams::Match;

/// The default and largest page.
pub const MAX_PAGE: u64 = 100;
/// The deepest `offset` served; past it, pages come by `cursor` (an offset makes the database
/// walk and drop every row before the page).
pub const MAX_OFFSET: u64 = 10_000;

#[derive(Default)]
pub struct AdminUserListApi;

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "camelCase")]
enum SearchField {
    Email,
    Name,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
enum SearchOperator {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "camelCase")]
enum SortField {
    CreatedAt,
    UpdatedAt,
    Email,
    Name,
    Role,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
enum SortDirection {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "camelCase")]
enum FilterField {
    Id,
    Email,
    Name,
    Role,
    Banned,
    EmailVerified,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
enum FilterOperator {
    Eq,
    Ne,
}

#[derive(Debug, Object)]
#[oai(rename = "AdminUserList", rename_all = "camelCase", nullable_all)]
struct UserList {
    users: Vec<AuthUser>,
    /// How many users match, across all pages. Without a search or filter, above
    /// `USER_COUNT_ESTIMATE_ABOVE` users (100,000), the database's estimate.
    total: u64,
    limit: Option<u64>,
    /// Present when the request gave one (as better-auth answers).
    #[oai(skip_serializing_if_is_none)]
    offset: Option<u64>,
    /// The `cursor` of the next page; `null` on the last.
    next_cursor: Option<String>,
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminUserListApi {
    /// List users
    ///
    /// Searches `email` (default) or `name`, case-insensitively; filters one field; pages
    /// with `limit` (at most 100, the default) and either `offset` (at most 10,000) or
    /// `cursor` (the previous page's `nextCursor`, for any depth).
    #[oai(
        path = "/v1/auth/admin/list-users",
        method = "get",
        operation_id = "listUsers"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_users(
        &self,
        state: Data<&AppState>,
        caller: Authenticated,
        #[oai(name = "searchValue", validator(max_length = 254))] search_value: Query<
            Option<String>,
        >,
        #[oai(name = "searchField")] search_field: Query<Option<SearchField>>,
        #[oai(name = "searchOperator")] search_operator: Query<Option<SearchOperator>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u64>>,
        #[oai(validator(maximum(value = "10000")))] offset: Query<Option<u64>>,
        #[oai(validator(max_length = 1024))] cursor: Query<Option<String>>,
        #[oai(name = "sortBy")] sort_by: Query<Option<SortField>>,
        #[oai(name = "sortDirection")] sort_direction: Query<Option<SortDirection>>,
        #[oai(name = "filterField")] filter_field: Query<Option<FilterField>>,
        #[oai(name = "filterValue", validator(max_length = 254))] filter_value: Query<
            Option<String>,
        >,
        #[oai(name = "filterOperator")] filter_operator: Query<Option<FilterOperator>>,
    ) -> AuthResult<Json<UserList>> {
        require(
            &caller.0,
            "user",
            "list",
            "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS",
        )?;
        if offset.0.is_some() && cursor.0.is_some() {
            return Err(ApiError::validation("give offset or cursor, not both").into());
        }
        let page = PageRequest::with_default(limit.0, cursor.0.as_deref(), MAX_PAGE)?;
        let mut condition = Condition::all();
        if let Some(value) = search_value.0.filter(|value| !value.is_empty()) {
            let field = search_field.0.unwrap_or(SearchField::Email);
            let operator = search_operator.0.unwrap_or(SearchOperator::Contains);
            condition = condition.add(search(&state, field, operator, &value).await);
        }
        if let Some(value) = filter_value.0 {
            let field = filter_field.0.unwrap_or(FilterField::Email);
            let matches = filter(field, &value)?;
            condition = condition.add(match filter_operator.0.unwrap_or(FilterOperator::Eq) {
                FilterOperator::Eq => matches,
                FilterOperator::Ne => matches.not(),
            });
        }
        let filtered = !condition.is_empty();
        let query = user::Entity::find().filter(condition);
        let estimate_above = state.settings.lists.user_count_estimate_above;
        let sort = Sort::new(
            sort_by.0.unwrap_or(SortField::CreatedAt),
            sort_direction.0.unwrap_or(SortDirection::Asc),
        );
        let rows = sort
            .apply(query.clone(), &page)?
            .limit(page.fetch())
            .offset(offset.0.unwrap_or(0));
        // Side by side on two connections: a search's page and count each walk its index.
        let (total, rows) = tokio::try_join!(
            total(&state.db, query, filtered, estimate_above),
            page_rows(&state.db, rows, filtered),
        )?;
        let (rows, next_cursor) = page.page(rows, |row| sort.key(row));
        Ok(Json(UserList {
            users: rows.iter().map(AuthUser::from).collect(),
            total,
            limit: Some(page.limit),
            offset: offset.0,
            next_cursor,
        }))
    }
}

/// Matches the search. Emails are stored lowercased, so they are compared as they are: the
/// expression the email trigram index covers (and names through `lower(name)`, the other).
async fn search(
    state: &AppState,
    field: SearchField,
    operator: SearchOperator,
    value: &str,
) -> Condition {
    let how = match operator {
        SearchOperator::Contains => Match::Contains,
        SearchOperator::StartsWith => Match::StartsWith,
        SearchOperator::EndsWith => Match::EndsWith,
    };
    let (searched, statistics) = match field {
        SearchField::Email => (
            Expr::col((user::Entity, user::Column::Email)),
            "users_email_trigrams",
        ),
        SearchField::Name => (
            Expr::expr(Func::lower(Expr::col((user::Entity, user::Column::Name)))),
            "users_name_trigrams",
        ),
    };
    let term = value.to_lowercase();
    state
        .trigram_stats
        .matches(&state.db, searched, statistics, how, &term)
        .await
}

/// The condition `field = value`; 400 `validation` for a value the field cannot hold.
fn filter(field: FilterField, value: &str) -> Result<Condition, ApiError> {
    let flag = || match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::validation(
            "filterValue must be true or false here",
        )),
    };
    let condition = match field {
        FilterField::Id => user::Column::Id.eq(value),
        FilterField::Email => user::Column::Email.eq(value.to_lowercase()),
        FilterField::Name => user::Column::Name.eq(value),
        FilterField::Role => user::Column::Role.eq(value),
        FilterField::Banned => user::Column::Banned.eq(flag()?),
        FilterField::EmailVerified => user::Column::EmailVerified.eq(flag()?),
    };
    Ok(Condition::all().add(condition))
}

/// The users `rows` selects; a search or filter is planned for its values each time.
async fn page_rows(
    db: &DatabaseConnection,
    rows: Select<user::Entity>,
    filtered: bool,
) -> ApiResult<Vec<user::Model>> {
    if !filtered {
        return rows.all(db).await.map_err(ApiError::internal);
    }
    let found = db::search_rows(db, rows.build(db.get_database_backend()))
        .await
        .map_err(ApiError::internal)?;
    found
        .iter()
        .map(|row| user::Model::from_query_result(row, ""))
        .collect::<Result<_, _>>()
        .map_err(ApiError::internal)
}

/// How many users `query` matches, never by counting more than `estimate_above` rows: past
/// that many (the whole table, or a search that matches most of it) the total is Postgres's
/// estimate, from the table's statistics (kept by autovacuum's ANALYZE, within a few percent).
/// A narrower search or filter is counted exactly, through the index that finds its rows.
async fn total(
    db: &DatabaseConnection,
    query: Select<user::Entity>,
    filtered: bool,
    estimate_above: u64,
) -> ApiResult<u64> {
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    if postgres && !filtered {
        // -1 until the table is first analyzed: then it is counted.
        let sql = "SELECT reltuples::bigint AS n FROM pg_class WHERE oid = 'users'::regclass";
        let estimate = db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .map_err(ApiError::internal)?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()
            .map_err(ApiError::internal)?
            .unwrap_or(-1);
        if estimate > 0 && estimate as u64 > estimate_above {
            return Ok(estimate as u64);
        }
    }
    if !postgres {
        return query.count(db).await.map_err(ApiError::internal);
    }
    let bounded = query.clone().select_only().column(user::Column::Id);
    let mut statement = bounded
        .limit(estimate_above.saturating_add(1))
        .build(DbBackend::Postgres);
    statement.sql = format!("SELECT COUNT(*) AS n FROM ({}) AS matched", statement.sql);
    let counted = db::search_rows(db, statement)
        .await
        .map_err(ApiError::internal)?
        .first()
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()
        .map_err(ApiError::internal)?
        .unwrap_or(0) as u64;
    match counted > estimate_above {
        true => planner_rows(db, query).await,
        false => Ok(counted),
    }
}

/// The planner's estimate of the rows `query` returns (Postgres).
async fn planner_rows(db: &impl ConnectionTrait, query: Select<user::Entity>) -> ApiResult<u64> {
    let mut statement = query.build(DbBackend::Postgres);
    statement.sql = format!("EXPLAIN (FORMAT JSON) {}", statement.sql);
    let plan = db
        .query_one_raw(statement)
        .await
        .map_err(ApiError::internal)?
        .map(|row| row.try_get::<serde_json::Value>("", "QUERY PLAN"))
        .transpose()
        .map_err(ApiError::internal)?
        .unwrap_or_default();
    Ok(plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0) as u64)
}

/// A list order: a column, then the id, both one way, and the cursors that go with it.
struct Sort {
    field: SortField,
    order: Order,
    /// The cursor name: a cursor of another order is refused.
    list: String,
}

impl Sort {
    fn new(field: SortField, direction: SortDirection) -> Self {
        let (order, way) = match direction {
            SortDirection::Asc => (Order::Asc, "asc"),
            SortDirection::Desc => (Order::Desc, "desc"),
        };
        let name = match field {
            SortField::CreatedAt => "createdAt",
            SortField::UpdatedAt => "updatedAt",
            SortField::Email => "email",
            SortField::Name => "name",
            SortField::Role => "role",
        };
        let list = format!("users.{name}.{way}");
        Self { field, order, list }
    }

    fn column(&self) -> user::Column {
        match self.field {
            SortField::CreatedAt => user::Column::CreatedAt,
            SortField::UpdatedAt => user::Column::UpdatedAt,
            SortField::Email => user::Column::Email,
            SortField::Name => user::Column::Name,
            SortField::Role => user::Column::Role,
        }
    }

    /// `query` in this order, from past the page's cursor if it has one.
    fn apply(
        &self,
        query: Select<user::Entity>,
        page: &PageRequest,
    ) -> ApiResult<Select<user::Entity>> {
        let sort = Expr::col((user::Entity, self.column()));
        let id = Expr::col((user::Entity, user::Column::Id));
        let by_time = matches!(self.field, SortField::CreatedAt | SortField::UpdatedAt);
        let past_cursor = match by_time {
            true => page
                .after_time(&self.list)?
                .map(|(at, id_after)| past(sort, id, at, id_after, self.order.clone())),
            false => page
                .after_text(&self.list)?
                .map(|(value, id_after)| past(sort, id, value, id_after, self.order.clone())),
        };
        let query = match past_cursor {
            Some(condition) => query.filter(condition),
            None => query,
        };
        Ok(query
            .order_by(self.column(), self.order.clone())
            .order_by(user::Column::Id, self.order.clone()))
    }

    /// The cursor key of `row` in this order.
    fn key(&self, row: &user::Model) -> String {
        let list = &self.list;
        match self.field {
            SortField::CreatedAt => time_key(list, &row.created_at, &row.id),
            SortField::UpdatedAt => time_key(list, &row.updated_at, &row.id),
            SortField::Email => text_key(list, &row.email, &row.id),
            SortField::Name => text_key(list, &row.name, &row.id),
            SortField::Role => text_key(list, &row.role, &row.id),
        }
    }
}
