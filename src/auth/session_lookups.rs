//! Session lookups, coalesced. Every authenticated request needs its session row; under load,
//! the lookups that arrive while earlier ones are in flight go to the database together, as one
//! `token_hash IN (…)` query, instead of one round trip each. Nothing is cached: every answer
//! comes from a query that started after the request arrived, so a revoked session is refused
//! on its next request.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::entities::{session, user};
use super::session::may_impersonate;
use crate::error::{ApiError, ApiResult};

/// At most this many lookups share one query.
const MAX_BATCH: usize = 256;
/// Queries in flight at once. Fewer means larger batches under load (bench/session.sh: 1–2
/// beat 5 and 10 by a third), and lookups never take more than this many pooled connections.
const MAX_IN_FLIGHT: usize = 2;
/// Lookups waiting for a query; past this, callers wait to queue.
const QUEUE: usize = 4096;

type Found = Option<(session::Model, user::Model)>;

struct Lookup {
    token_hash: String,
    reply: oneshot::Sender<ApiResult<Found>>,
}

/// The handle requests use; the batching task stops when the last handle is dropped.
#[derive(Clone)]
pub struct SessionLookups {
    queue: mpsc::Sender<Lookup>,
}

impl SessionLookups {
    /// Starts the batching task (on the current Tokio runtime).
    pub fn start(db: DatabaseConnection) -> Self {
        let (queue, lookups) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, lookups));
        Self { queue }
    }

    /// The session whose token hashes to `token_hash`, with its user (expired or banned
    /// included: the caller decides).
    pub async fn find(&self, token_hash: String) -> ApiResult<Found> {
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup { token_hash, reply };
        let stopped = |_| ApiError::internal("the session lookup task has stopped");
        self.queue.send(lookup).await.map_err(stopped)?;
        answer
            .await
            .map_err(|_| ApiError::internal("a session lookup was dropped"))?
    }
}

async fn run(db: DatabaseConnection, mut lookups: mpsc::Receiver<Lookup>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // Waiting for a free slot first lets lookups pile up into the next batch.
        let slot = in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        if lookups.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let batch = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        let db = db.clone();
        tokio::spawn(async move {
            answer(&db, batch).await;
            drop(slot);
        });
    }
}

async fn answer(db: &DatabaseConnection, batch: Vec<Lookup>) {
    match query(db, &batch).await {
        Ok(found) => {
            for lookup in batch {
                let _ = lookup
                    .reply
                    .send(Ok(found.get(&lookup.token_hash).cloned()));
            }
        }
        Err(err) => {
            let error = ApiError::internal(err);
            for lookup in batch {
                let _ = lookup.reply.send(Err(error.clone()));
            }
        }
    }
}

/// The batch's sessions by token hash. A session opened by impersonation is found only while
/// its impersonator may still impersonate (not banned, demoted or deleted).
async fn query(
    db: &DatabaseConnection,
    batch: &[Lookup],
) -> Result<HashMap<String, (session::Model, user::Model)>, DbErr> {
    let hashes: Vec<&str> = batch
        .iter()
        .map(|lookup| lookup.token_hash.as_str())
        .collect();
    let rows = session::Entity::find()
        .filter(session::Column::TokenHash.is_in(hashes))
        .find_also_related(user::Entity)
        .all(db)
        .await?;
    let impersonators: Vec<&str> = rows
        .iter()
        .filter_map(|(session, _)| session.impersonated_by.as_deref())
        .collect();
    let now = Utc::now();
    let allowed: HashSet<String> = match impersonators.is_empty() {
        true => HashSet::new(),
        false => user::Entity::find()
            .filter(user::Column::Id.is_in(impersonators))
            .all(db)
            .await?
            .into_iter()
            .filter(|admin| may_impersonate(admin, now))
            .map(|admin| admin.id)
            .collect(),
    };
    Ok(rows
        .into_iter()
        .filter(|(session, _)| {
            session
                .impersonated_by
                .as_ref()
                .is_none_or(|by| allowed.contains(by))
        })
        .filter_map(|(session, user)| Some((session.token_hash.clone(), (session, user?))))
        .collect())
}
