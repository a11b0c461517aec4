//! Cursor pagination, the one way every list pages: `limit` (default [`DEFAULT_LIMIT`], at
//! most [`MAX_LIMIT`]) and an opaque `cursor` in, `nextCursor` out (null on the last page).
//!
//! Pages are keyset pages: a cursor names the last item of its page by its sort value and id,
//! and the next page is the rows after that position in the list's index, so a deep page costs
//! what the first does and rows inserted meanwhile neither repeat nor skip an item. A cursor
//! also names its list: one list's cursor given to another is 400 `validation`.
//!
//! Lists Orbit's web client reads whole, as a bare array (members, invitations, sessions),
//! keep that shape: their `limit` defaults to [`MAX_LIMIT`] and the next cursor rides in the
//! `X-Next-Cursor` header ([`Paged`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use poem::http::HeaderValue;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use sea_orm::Order;
use sea_orm::sea_query::{Expr, ExprTrait, Value};

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;
/// The response header that carries a bare-array list's next cursor.
pub const NEXT_CURSOR_HEADER: &str = "X-Next-Cursor";
/// Between a cursor's parts: the list's name, the sort value, the id. Neither a name nor an
/// id holds it; a sort value may (it is read as what lies between the other two).
const SEPARATOR: char = '\u{1f}';

/// One page's request: how many items, after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u64,
    after: Option<String>,
}

impl PageRequest {
    /// From the query; a cursor that is not one of ours is 400 `validation`.
    pub fn new(limit: Option<u64>, cursor: Option<&str>) -> ApiResult<Self> {
        Self::with_default(limit, cursor, DEFAULT_LIMIT)
    }

    /// For a list Orbit's client reads whole: the largest page unless asked for less.
    pub fn whole(limit: Option<u64>, cursor: Option<&str>) -> ApiResult<Self> {
        Self::with_default(limit, cursor, MAX_LIMIT)
    }

    /// With a list's own default size (still at most [`MAX_LIMIT`]).
    pub fn with_default(limit: Option<u64>, cursor: Option<&str>, default: u64) -> ApiResult<Self> {
        let limit = limit.unwrap_or(default).clamp(1, MAX_LIMIT);
        let after = cursor.map(decode).transpose()?;
        Ok(Self { limit, after })
    }

    /// How many items to fetch: one more than a page, to learn whether another follows.
    pub fn fetch(&self) -> u64 {
        self.limit + 1
    }

    /// Cuts `items` (fetched with [`Self::fetch`]) to the page, with the cursor of the next,
    /// made by `key` from the page's last item.
    pub fn page<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        let more = items.len() as u64 > self.limit;
        items.truncate(self.limit as usize);
        let next = match more {
            true => items.last().map(|last| cursor_of(&key(last))),
            false => None,
        };
        (items, next)
    }

    /// The id after which the page starts, in list `list` ordered by id alone.
    pub fn after_id(&self, list: &str) -> ApiResult<Option<String>> {
        self.after_parts(list, false)
            .map(|parts| parts.map(|(_, id)| id.to_owned()))
    }

    /// The position after which the page starts, in list `list` ordered by a text then id.
    pub fn after_text(&self, list: &str) -> ApiResult<Option<(String, String)>> {
        self.after_parts(list, true)
            .map(|parts| parts.map(|(value, id)| (value.to_owned(), id.to_owned())))
    }

    /// The position after which the page starts, in list `list` ordered by a time then id.
    pub fn after_time(&self, list: &str) -> ApiResult<Option<(DateTime<Utc>, String)>> {
        let Some((value, id)) = self.after_parts(list, true)? else {
            return Ok(None);
        };
        let at = DateTime::parse_from_rfc3339(value).map_err(|_| invalid())?;
        Ok(Some((at.to_utc(), id.to_owned())))
    }

    /// `(value, id)` of a cursor of `list`; `value` is empty when the list has none.
    fn after_parts(&self, list: &str, valued: bool) -> ApiResult<Option<(&str, &str)>> {
        let Some(after) = &self.after else {
            return Ok(None);
        };
        let rest = after
            .strip_prefix(list)
            .and_then(|rest| rest.strip_prefix(SEPARATOR))
            .ok_or_else(invalid)?;
        let (value, id) = match valued {
            true => rest.rsplit_once(SEPARATOR).ok_or_else(invalid)?,
            false => ("", rest),
        };
        match id.is_empty() || id.contains(SEPARATOR) {
            true => Err(invalid()),
            false => Ok(Some((value, id))),
        }
    }
}

/// The cursor key of `id` in list `list` ordered by id.
pub fn id_key(list: &str, id: &str) -> String {
    format!("{list}{SEPARATOR}{id}")
}

/// The opaque cursor of a key, for a list whose source says itself whether more follow.
pub fn cursor_of(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The cursor key of an item in list `list` ordered by a text, then id.
pub fn text_key(list: &str, value: &str, id: &str) -> String {
    format!("{list}{SEPARATOR}{value}{SEPARATOR}{id}")
}

/// The cursor key of an item in list `list` ordered by a time, then id. The time keeps every
/// digit it has: a rounded one would not match its row again.
pub fn time_key(list: &str, at: &DateTime<Utc>, id: &str) -> String {
    text_key(list, &at.to_rfc3339_opts(SecondsFormat::AutoSi, true), id)
}

/// The rows past a cursor's position in a list ordered by `(sort, id)`, both in `order`:
/// one row-value comparison, which the `(…, sort, id)` index answers as a range.
pub fn past(sort: Expr, id: Expr, value: impl Into<Value>, after_id: String, order: Order) -> Expr {
    let row = Expr::tuple([sort, id]);
    let position = Expr::tuple([Expr::val(value), Expr::val(after_id)]);
    match order {
        Order::Desc => row.lt(position),
        _ => row.gt(position),
    }
}

fn invalid() -> ApiError {
    ApiError::validation("cursor is not one this list returned")
}

fn decode(cursor: &str) -> ApiResult<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    String::from_utf8(bytes)
        .ok()
        .filter(|key| !key.contains('\0'))
        .ok_or_else(invalid)
}

/// A page of a list answered as a bare JSON array (the shape Orbit's client reads), with the
/// next page's cursor in the [`NEXT_CURSOR_HEADER`] header (absent on the last page).
pub struct Paged<P> {
    pub items: P,
    pub next_cursor: Option<String>,
}

impl<P: IntoResponse> IntoResponse for Paged<P> {
    fn into_response(self) -> Response {
        let mut response = self.items.into_response();
        // A cursor is base64url: always a valid header value.
        if let Some(value) = self
            .next_cursor
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response.headers_mut().insert(NEXT_CURSOR_HEADER, value);
        }
        response
    }
}

impl<P: Payload + IntoResponse> ApiResponse for Paged<P> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "One page, oldest or newest first as the operation says.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json; charset=utf-8",
                    schema: P::schema_ref(),
                }],
                headers: vec![MetaHeader {
                    name: NEXT_CURSOR_HEADER.to_owned(),
                    description: Some(
                        "The `cursor` of the next page; absent on the last page.".to_owned(),
                    ),
                    required: false,
                    deprecated: false,
                    schema: String::schema_ref(),
                }],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        P::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(key: &str) -> String {
        URL_SAFE_NO_PAD.encode(key)
    }

    #[test]
    fn pages_carry_the_cursor_of_the_next_only_when_one_follows() {
        let first = PageRequest::new(Some(2), None).unwrap();
        assert_eq!(first.fetch(), 3);
        let (items, next) = first.page(vec!["c", "b", "a"], |item| id_key("letters", item));
        assert_eq!(items, ["c", "b"]);
        let second = PageRequest::new(Some(2), next.as_deref()).unwrap();
        assert_eq!(second.after_id("letters").unwrap().as_deref(), Some("b"));
        let (items, next) = second.page(vec!["a"], |item| id_key("letters", item));
        assert_eq!((items, next), (vec!["a"], None));
    }

    #[test]
    fn time_positions_round_trip_to_the_nanosecond() {
        let at = DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap();
        let page = PageRequest::new(None, Some(&cursor(&time_key("members", &at, "mbr_1"))));
        let after = page.unwrap().after_time("members").unwrap();
        assert_eq!(after, Some((at, "mbr_1".to_owned())));
    }

    #[test]
    fn a_sort_value_may_hold_the_separator() {
        let key = text_key("users.name.asc", "odd\u{1f}name", "user_1");
        let page = PageRequest::new(None, Some(&cursor(&key))).unwrap();
        let after = page.after_text("users.name.asc").unwrap();
        assert_eq!(
            after,
            Some(("odd\u{1f}name".to_owned(), "user_1".to_owned()))
        );
    }

    #[test]
    fn limits_are_bounded_and_foreign_cursors_refused() {
        assert_eq!(
            PageRequest::new(Some(10_000), None).unwrap().limit,
            MAX_LIMIT
        );
        assert_eq!(PageRequest::new(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(PageRequest::whole(None, None).unwrap().limit, MAX_LIMIT);
        for bad in ["***", "//8"] {
            let err = PageRequest::new(None, Some(bad)).unwrap_err();
            assert_eq!(err.code(), "validation");
        }
        let members = cursor(&time_key("members", &Utc::now(), "mbr_1"));
        let page = PageRequest::new(None, Some(&members)).unwrap();
        assert_eq!(page.after_time("invites").unwrap_err().code(), "validation");
        assert_eq!(page.after_id("members").unwrap_err().code(), "validation");
        let untimed = PageRequest::new(None, Some(&cursor(&text_key("members", "x", "m"))));
        let err = untimed.unwrap().after_time("members").unwrap_err();
        assert_eq!(err.code(), "validation");
    }
}
