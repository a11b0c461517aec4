//! `GET /v1/ws?workspace=<slug>`: a member's WebSocket. Authenticated by the session cookie,
//! an `Authorization: Bearer` header or a `token` query parameter; anything else is a bare
//! 401 before the upgrade.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use poem::http::StatusCode;
use poem::web::websocket::{Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use tokio::time::{Instant, interval_at, sleep};

use super::protocol::{self, ClientEvent};
use super::{member_channel, workspace_channel};
use crate::auth::request_meta::client_ip;
use crate::auth::session::{presented_token, resolve_token};
use crate::error::ApiError;
use crate::rate_limit::{Limit, spend};
use crate::state::AppState;
use crate::workspaces::access::Access;

/// Messages a socket may have waiting before it is cut off as too slow.
const QUEUE: usize = 256;
/// The server pings this often; a socket that did not answer the previous ping is closed.
const PING_EVERY: Duration = Duration::from_secs(25);

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
    let Some(token) = params.token.or_else(|| presented_token(state, req)) else {
        return Ok(None);
    };
    let Some(caller) = resolve_token(state, req, token).await? else {
        return Ok(None);
    };
    match Access::resolve(&state.db, req, &caller, &slug).await {
        Ok(access) => Ok(Some(Member {
            workspace_id: access.workspace.id,
            member_id: access.me.id,
        })),
        Err(err) if err.status().is_client_error() => Ok(None),
        Err(err) => Err(err),
    }
}

async fn serve(state: AppState, socket: WebSocketStream, member: Member) {
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
    let announced = realtime
        .presence
        .connect(&realtime.hub, &member.workspace_id, member_id, socket_id)
        .await;
    // As in the Node API, the socket's own `presence.update` comes first, then `hello`: the
    // announcement coming back through the hub, or, for a member already online, told directly.
    if announced {
        let echo = sleep(Duration::from_secs(1));
        tokio::pin!(echo);
        loop {
            tokio::select! {
                message = attachment.messages.recv() => {
                    let Some(message) = message else { break };
                    let own = message.contains("presence.update") && message.contains(member_id);
                    if sink.send(Message::Text(message.to_string())).await.is_err() || own {
                        break;
                    }
                }
                _ = &mut echo => break,
            }
        }
    } else {
        let status = realtime.presence.status(member_id);
        let own = protocol::presence(member_id, status, chrono::Utc::now());
        let _ = sink.send(Message::Text(own)).await;
    }
    let mut open = sink
        .send(Message::Text(protocol::hello(member_id)))
        .await
        .is_ok();

    let mut ping = interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut answered = true;
    while open {
        tokio::select! {
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
                        realtime.presence.set_away(&realtime.hub, member_id, socket_id, true).await;
                    }
                    Some(ClientEvent::Back) => {
                        realtime.presence.set_away(&realtime.hub, member_id, socket_id, false).await;
                    }
                    Some(ClientEvent::Ping) | None => {}
                },
                Some(Ok(Message::Pong(_))) => answered = true,
                Some(Ok(Message::Close(_)) | Err(_)) | None => open = false,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                open = answered && sink.send(Message::Ping(Vec::new())).await.is_ok();
                answered = false;
            }
        }
    }
    drop(attachment);
    realtime
        .presence
        .disconnect(&realtime.hub, member_id, socket_id);
    let _ = sink.close().await;
}
