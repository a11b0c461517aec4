//! Substring searches that cost what their answer costs on Postgres.
//!
//! A `pg_trgm` index answers `LIKE '%term%'` by intersecting the posting lists of the term's
//! trigrams, and reads each list whole: a trigram most rows hold (`com`, `gma`, `use`) costs a
//! read of most of the table's entries, even when the term matches one row. So the index is
//! asked only for the term's rare trigrams (a window of the term made of them), and the whole
//! term is checked on the few rows they find. Which trigrams are common comes from the
//! statistics ANALYZE keeps on each searched column's trigrams (migration 000014), read once
//! per `REFRESH` per instance. Without them, or on SQLite, the search is the plain `LIKE`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::db;

/// A trigram held by more than this share of rows is common: its posting list is left out.
const COMMON_SHARE: f64 = 0.02;
/// How long an instance trusts the statistics it read (ANALYZE moves them slowly).
const REFRESH: Duration = Duration::from_secs(600);

/// How a searched value must contain the term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Contains,
    StartsWith,
    EndsWith,
}

/// The common trigrams of each searched column, as last read.
#[derive(Default)]
pub struct TrigramStats {
    read: Mutex<HashMap<&'static str, Read>>,
}

/// The common trigrams of one column, and when they were read.
type Read = (Instant, Arc<HashSet<String>>);

impl TrigramStats {
    /// The condition `column` (lowercase text) matches `term` (lowercase) as `how` says;
    /// `statistics` names the trigram statistics of `column`.
    pub async fn matches(
        &self,
        db: &DatabaseConnection,
        column: SimpleExpr,
        statistics: &'static str,
        how: Match,
        term: &str,
    ) -> Condition {
        let escaped = db::escape_like(term);
        let pattern = match how {
            Match::Contains => format!("%{escaped}%"),
            Match::StartsWith => format!("{escaped}%"),
            Match::EndsWith => format!("%{escaped}"),
        };
        let like = |pattern: String| column.clone().like(LikeExpr::new(pattern).escape('\\'));
        let windows = match db.get_database_backend() {
            DbBackend::Postgres => rare_windows(term, &*self.common(db, statistics).await),
            _ => Vec::new(),
        };
        if windows.is_empty() {
            return Condition::all().add(like(pattern));
        }
        // The windows go to the index; the whole term, in a form no index serves, is checked
        // on the rows they find.
        let term_len = term.chars().count() as i32;
        let whole = match how {
            Match::Contains => {
                Expr::cust_with_exprs("strpos($1, $2) > 0", [column.clone(), Expr::val(term)])
            }
            Match::StartsWith => Expr::cust_with_exprs(
                "left($1, $2) = $3",
                [column.clone(), Expr::val(term_len), Expr::val(term)],
            ),
            Match::EndsWith => Expr::cust_with_exprs(
                "right($1, $2) = $3",
                [column.clone(), Expr::val(term_len), Expr::val(term)],
            ),
        };
        windows
            .into_iter()
            .fold(Condition::all(), |all, window| {
                all.add(like(format!("%{window}%")))
            })
            .add(whole)
    }

    async fn common(
        &self,
        db: &DatabaseConnection,
        statistics: &'static str,
    ) -> Arc<HashSet<String>> {
        if let Some((at, common)) = self.read.lock().expect("never poisoned").get(statistics)
            && at.elapsed() < REFRESH
        {
            return common.clone();
        }
        let common = Arc::new(read_common(db, statistics).await.unwrap_or_else(|err| {
            tracing::debug!(error = %err, statistics, "no trigram statistics");
            HashSet::new()
        }));
        let mut read = self.read.lock().expect("never poisoned");
        read.insert(statistics, (Instant::now(), common.clone()));
        common
    }
}

/// The trigrams of `statistics` more than [`COMMON_SHARE`] of rows hold.
async fn read_common(
    db: &DatabaseConnection,
    statistics: &str,
) -> Result<HashSet<String>, sea_orm::DbErr> {
    let sql = "SELECT e.trigram FROM pg_stats_ext_exprs s, \
        unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e(trigram, share) \
        WHERE s.statistics_name = $1 AND e.trigram IS NOT NULL AND e.share > $2";
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [statistics.into(), COMMON_SHARE.into()],
    );
    let rows = db.query_all_raw(statement).await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "trigram"))
        .collect()
}

/// The longest stretches of `term` whose trigrams (as `pg_trgm` takes them from a pattern:
/// within runs of letters and digits) are all rare; empty when the term has no rare trigram.
/// Only ASCII runs are considered: `pg_trgm` hashes other trigrams.
fn rare_windows(term: &str, common: &HashSet<String>) -> Vec<String> {
    let mut windows = Vec::new();
    for run in term.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut start = None;
        for i in 0..run.len().saturating_sub(2) {
            match (!common.contains(&run[i..i + 3]), start) {
                (true, None) => start = Some(i),
                (false, Some(from)) => {
                    windows.push(run[from..i + 2].to_owned());
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(from) = start {
            windows.push(run[from..].to_owned());
        }
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_the_stretches_of_rare_trigrams() {
        let common: HashSet<String> = ["use", "ser", "er1", "gma", "mai", "ail", "com"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(rare_windows("user12345", &common), ["r12345"]);
        assert_eq!(rare_windows("smith@gmail.com", &common), ["smith"]);
        assert_eq!(rare_windows("user1", &common), Vec::<String>::new());
        assert_eq!(rare_windows("ab", &common), Vec::<String>::new());
        assert_eq!(rare_windows("xuserz", &common), ["xus", "erz"]);
        assert_eq!(rare_windows("ann", &HashSet::new()), ["ann"]);
        assert_eq!(rare_windows("zoë-kim", &HashSet::new()), ["kim"]);
    }
}
