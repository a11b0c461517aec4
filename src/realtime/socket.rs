//! `GET /v1/ws?workspace=<slug>`: a member's WebSocket. Authenticated by the session cookie
//! (from a trusted `Origin` only: 403 otherwise), an `Authorization: Bearer` header or a
//! `token` query parameter; anything else is a bare 401 before the upgrade. Every ping
//! (25 s) checks the session again: a socket whose
//! session ended (signed out, revoked, banned, account deleted) is closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use poem::http::StatusCode;
use poem::web::websocket::{Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use tokio::time::{Instant, interval_at};

use super::protocol::{self, ClientEvent};
use super::{member_channel, workspace_channel};
use crate::auth::origin::{cookie_authenticated, require_trusted_origin};
use crate::auth::request_meta::client_ip;
use crate::auth::session::{presented_token, resolve_token, still_open};
use crate::auth::tokens::hash_token;
use crate::error::ApiError;
use crate::rate_limit::{Limit, spend};
use crate::state::AppState;
use crate::workspaces::access::Access;

/// Messages a socket may have waiting before it is cut off as too slow.
const QUEUE: usize = 256;

static NEXT_SOCKET: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Deserialize)]
struct Params {
    workspace: Option<String>,
    token: Option<String>,
}

/// Small buffers (tungstenite's defaults are 128 KiB each way, per socket) and small frames:
/// clients only ever send a few bytes, and what the server sends is a queue of small texts.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

/// Who a socket belongs to.
struct Member {
    workspace_id: String,
    member_id: String,
    /// The session it opened with, checked again at every ping.
    token_hash: String,
}

#[handler]
pub async fn upgrade(
    req: &Request,
    ws: Option<WebSocket>,
    state: Data<&AppState>,
    Query(params): Query<Params>,
) -> Response {
    let Some(ws) = ws else {
        return ApiError::no_route().into_response();
    };
    let ip = client_ip(&state.settings, req).unwrap_or_default();
    let per_ip = Limit {
        hits: state.settings.auth.ws_upgrades_per_minute,
        window: Duration::from_secs(60),
    };
    let key = format!("ws:ip:{ip}");
    if let Err(refused) = spend(state.rate_limiter.as_ref(), &key, per_ip).await {
        return refused.into_response();
    }
    let member = match authorize(&state, req, params).await {
        Ok(Some(member)) => member,
        Ok(None) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(err) => return err.into_response(),
    };
    let state = state.0.clone();
    ws.config(socket_config())
        .on_upgrade(move |socket| serve(state, socket, member))
        .into_response()
}

/// The member the request may open a socket as: a live session that belongs to the
/// workspace named. `None` for anything less.
async fn authorize(
    state: &AppState,
    req: &Request,
    params: Params,
) -> Result<Option<Member>, ApiError> {
    let Some(slug) = params.workspace else {
        return Ok(None);
    };
    let token = match params.token {
        Some(token) => token,
        None => {
            // A browser sends the cookie along from any site that opens the socket.
            if cookie_authenticated(req) {
                let origins = &state.settings.origins;
                require_trusted_origin(req.headers(), |origin| origins.is_trusted(origin))?;
            }
            let Some(token) = presented_token(state, req) else {
                return Ok(None);
            };
            token
        }
    };
    let Some(caller) = resolve_token(state, req, token).await? else {
        return Ok(None);
    };
    match Access::resolve(&state.db, req, &caller, &slug).await {
        Ok(access) => Ok(Some(Member {
            workspace_id: access.workspace.id,
            member_id: access.me.id,
            token_hash: hash_token(&caller.token),
        })),
        Err(err) if err.status().is_client_error() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Counts a socket in `realtime_open_websockets` while it lives.
struct OpenSocket;

impl OpenSocket {
    fn count() -> Self {
        metrics::gauge!("realtime_open_websockets").increment(1.0);
        Self
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        metrics::gauge!("realtime_open_websockets").decrement(1.0);
    }
}

async fn serve(state: AppState, socket: WebSocketStream, member: Member) {
    let _open = OpenSocket::count();
    let (mut sink, mut stream) = socket.split();
    let realtime = &state.realtime;
    let channels = vec![
        workspace_channel(&member.workspace_id),
        member_channel(&member.member_id),
    ];
    let mut attachment = match realtime.hub.attach(channels, QUEUE).await {
        Ok(attachment) => attachment,
        Err(err) => {
            tracing::warn!(error = %err, "realtime: cannot subscribe");
            return;
        }
    };
    let socket_id = NEXT_SOCKET.fetch_add(1, Ordering::Relaxed);
    let member_id = member.member_id.as_str();
    let joined = realtime
        .presence
        .connect(&member.workspace_id, member_id, socket_id)
        .await;
    // As in the Node API, the socket's own `presence.update` comes first, then `hello`. When
    // it was announced, it is already in this socket's queue: pass on the queue up to it.
    if joined.announced {
        while let Ok(message) = attachment.messages.try_recv() {
            let own = Arc::ptr_eq(&message, &joined.message);
            if sink.send(Message::Text(message.to_string())).await.is_err() || own {
                break;
            }
        }
    } else {
        let _ = sink.send(Message::Text(joined.message.to_string())).await;
    }
    let mut open = sink
        .send(Message::Text(protocol::hello(member_id)))
        .await
        .is_ok();

    let ping_every = state.settings.realtime.ping_every;
    let mut ping = interval_at(Instant::now() + ping_every, ping_every);
    let mut answered = true;
    while open {
        // In this order, a wake for a queued message polls neither the client's side (a
        // locked read that finds nothing) nor more than the ping's timer: broadcasts to many
        // sockets cost less. The queue empties as fast as the socket takes frames, so the
        // reads behind it wait for no longer than that.
        tokio::select! {
            biased;
            _ = ping.tick() => {
                // A database hiccup keeps the socket; a session that ended closes it.
                let session_open = still_open(&state, member.token_hash.clone())
                    .await
                    .unwrap_or(true);
                open = answered
                    && session_open
                    && sink.send(Message::Ping(Vec::new())).await.is_ok();
                answered = false;
            }
            message = attachment.messages.recv() => match message {
                Some(message) => {
                    open = sink.send(Message::Text(message.to_string())).await.is_ok()
                        && !protocol::ends_connection(&message, member_id);
                }
                // Cut off for falling behind.
                None => open = false,
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => match protocol::parse_client(&text) {
                    Some(ClientEvent::Away) => {
                        realtime.presence.set_away(member_id, socket_id, true);
                    }
                    Some(ClientEvent::Back) => {
                        realtime.presence.set_away(member_id, socket_id, false);
                    }
                    Some(ClientEvent::Ping) | None => {}
                },
                Some(Ok(Message::Pong(_))) => answered = true,
                Some(Ok(Message::Close(_)) | Err(_)) | None => open = false,
                Some(Ok(_)) => {}
            },
        }
    }
    drop(attachment);
    realtime.presence.disconnect(member_id, socket_id);
    let _ = sink.close().await;
}
