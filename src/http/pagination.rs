//! Cursor pagination, the one way every list pages: `limit` (default [`DEFAULT_LIMIT`], at
//! most [`MAX_LIMIT`]) and an opaque `cursor` in, `nextCursor` out (null on the last page).
//! A cursor is the last item's sort key, base64url-encoded: clients pass it back untouched.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// One page's request: how many items, after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u64,
    pub after: Option<String>,
}

impl PageRequest {
    /// From the query; a cursor that is not one of ours is 400 `validation`.
    pub fn new(limit: Option<u64>, cursor: Option<&str>) -> ApiResult<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let after = cursor.map(decode).transpose()?;
        Ok(Self { limit, after })
    }

    /// How many items to fetch: one more than a page, to learn whether another follows.
    pub fn fetch(&self) -> u64 {
        self.limit + 1
    }

    /// Cuts `items` (fetched with [`Self::fetch`]) to the page, with the cursor of the next.
    pub fn page<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
        let more = items.len() as u64 > self.limit;
        items.truncate(self.limit as usize);
        let next = match more {
            true => items.last().map(|last| encode(key(last))),
            false => None,
        };
        (items, next)
    }
}

fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode(cursor: &str) -> ApiResult<String> {
    let invalid = || ApiError::validation("cursor is not one this list returned");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    String::from_utf8(bytes)
        .ok()
        .filter(|key| !key.contains('\0'))
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_the_cursor_of_the_next_only_when_one_follows() {
        let first = PageRequest::new(Some(2), None).unwrap();
        assert_eq!(first.fetch(), 3);
        let (items, next) = first.page(vec!["c", "b", "a"], |item| item);
        assert_eq!(items, ["c", "b"]);
        let second = PageRequest::new(Some(2), next.as_deref()).unwrap();
        assert_eq!(second.after.as_deref(), Some("b"));
        let (items, next) = second.page(vec!["a"], |item| item);
        assert_eq!((items, next), (vec!["a"], None));
    }

    #[test]
    fn limits_are_bounded_and_foreign_cursors_refused() {
        assert_eq!(
            PageRequest::new(Some(10_000), None).unwrap().limit,
            MAX_LIMIT
        );
        assert_eq!(PageRequest::new(None, None).unwrap().limit, DEFAULT_LIMIT);
        for bad in ["***", "//8"] {
            let err = PageRequest::new(None, Some(bad)).unwrap_err();
            assert_eq!(err.code(), "validation");
        }
    }
}
