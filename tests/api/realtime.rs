//! `/v1/ws`: who may open a socket, what it is told, and how workspace changes reach it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{TestApp, WEB_ORIGIN, json_of};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(app: &TestApp, query: &str, cookie: Option<&str>) -> Result<Socket, WsError> {
    connect_to(&app.base, query, cookie).await
}

/// Opens `/v1/ws{query}` on the instance serving at `base`, as the web app would.
pub async fn connect_to(base: &str, query: &str, cookie: Option<&str>) -> Result<Socket, WsError> {
    connect_from(base, query, cookie, Some(WEB_ORIGIN)).await
}

/// Opens `/v1/ws{query}` with `cookie`, as a page on `origin` would.
pub async fn connect_from(
    base: &str,
    query: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<Socket, WsError> {
    let url = format!("{}/v1/ws{query}", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

pub fn refused_with(result: Result<Socket, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("the socket opened"),
    }
}

/// The next message whose `type` is `kind` (others are skipped), within two seconds.
pub async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    within(socket, kind, Duration::from_secs(2))
        .await
        .unwrap_or_else(|| panic!("no {kind} within 2 s (or the socket ended)"))
}

/// The next message whose `type` is `kind` within `limit`; `None` if none came, or the
/// socket ended.
pub async fn within(socket: &mut Socket, kind: &str, limit: Duration) -> Option<Value> {
    let wait = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == kind {
                        return Some(value);
                    }
                }
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    };
    tokio::time::timeout(limit, wait).await.ok().flatten()
}

pub async fn first(socket: &mut Socket) -> Value {
    match tokio::time::timeout(Duration::from_secs(2), socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str(&text).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// Whether the server closes the socket within two seconds.
pub async fn closes(socket: &mut Socket) -> bool {
    let wait = async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), wait)
        .await
        .unwrap_or(false)
}

#[tokio::test]
async fn only_a_signed_in_member_of_the_workspace_opens_a_socket() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let outsider = app.sign_in("eve@example.com").await;
    let owner = Some(workspace.owner.cookie.as_str());
    assert_eq!(
        refused_with(connect(app, "?workspace=acme", None).await),
        401
    );
    assert_eq!(
        refused_with(connect(app, "?workspace=acme", Some(&outsider.cookie)).await),
        401
    );
    assert_eq!(
        refused_with(connect(app, "?workspace=nowhere", owner).await),
        401
    );
    assert_eq!(refused_with(connect(app, "", owner).await), 401);
    assert_eq!(
        refused_with(connect(app, "?workspace=acme&token=forged", None).await),
        401
    );
    assert_eq!(
        app.get("/v1/ws?workspace=acme").await.status(),
        404,
        "not an upgrade"
    );

    // Non-browser clients: the session token as a query parameter or a bearer header.
    let query = format!("?workspace=acme&token={}", workspace.owner.token);
    let mut by_query = connect(app, &query, None).await.unwrap();
    assert_eq!(
        next_of(&mut by_query, "hello").await["workspaceMemberId"],
        workspace.owner_member_id.as_str()
    );
    let url = format!(
        "{}/v1/ws?workspace=acme",
        app.base.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    let bearer = format!("Bearer {}", workspace.owner.token);
    request
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    let (mut by_header, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    next_of(&mut by_header, "hello").await;
}

#[tokio::test]
async fn a_socket_hears_presence_then_hello_then_every_change_to_its_workspace() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let owner_cookie = workspace.owner.cookie.clone();
    let mut ada = connect(app, "?workspace=acme", Some(&owner_cookie))
        .await
        .unwrap();
    let presence = first(&mut ada).await;
    assert_eq!(presence["type"], "presence.update");
    assert_eq!(
        presence["workspaceMemberId"],
        workspace.owner_member_id.as_str()
    );
    assert_eq!(presence["status"], "online");
    assert!(presence["lastSeenAt"].as_str().unwrap().ends_with('Z'));
    let hello = first(&mut ada).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(
        hello["workspaceMemberId"],
        workspace.owner_member_id.as_str()
    );
    assert!(hello["serverTime"].as_i64().unwrap() > 1_700_000_000_000);

    let bob = app.join(&workspace, "bob@example.com", None).await;
    let joined = next_of(&mut ada, "workspace.member.joined").await;
    assert_eq!(joined["member"]["email"], "bob@example.com");
    assert_eq!(joined["member"]["role"]["systemKey"], "MEMBER");

    let created = app
        .send_as(
            Method::POST,
            "/v1/workspaces/acme/roles",
            Some(&owner_cookie),
            Some(json!({"name": "Editors", "permissions": ["workspace.members.invite"]})),
        )
        .await;
    let role_id = json_of(created).await["id"].as_str().unwrap().to_owned();
    let event = next_of(&mut ada, "workspace.role.created").await;
    assert_eq!(event["role"]["id"], role_id.as_str());
    assert_eq!(event["role"]["memberCount"], 0);

    let path = format!("/v1/workspaces/acme/members/{}/role", bob.member_id);
    let body = json!({"roleId": role_id});
    app.send_as(Method::PATCH, &path, Some(&owner_cookie), Some(body))
        .await;
    let changed = next_of(&mut ada, "workspace.member.role_changed").await;
    assert_eq!(changed["member"]["id"], bob.member_id.as_str());
    assert_eq!(changed["member"]["role"]["name"], "Editors");

    // Bob connects, steps away and comes back: Ada sees each.
    let mut bobs = connect(app, "?workspace=acme", Some(&bob.session.cookie))
        .await
        .unwrap();
    next_of(&mut bobs, "hello").await;
    let online = next_of(&mut ada, "presence.update").await;
    assert_eq!(
        (
            online["workspaceMemberId"].as_str(),
            online["status"].as_str()
        ),
        (Some(bob.member_id.as_str()), Some("online"))
    );
    bobs.send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    bobs.send(Message::Text("not json".into())).await.unwrap();
    bobs.send(Message::Text(r#"{"type":"presence.away"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_of(&mut ada, "presence.update").await["status"], "away");
    bobs.send(Message::Text(r#"{"type":"presence.back"}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        next_of(&mut ada, "presence.update").await["status"],
        "online"
    );

    // Removing Bob tells the workspace and closes his socket.
    let path = format!("/v1/workspaces/acme/members/{}", bob.member_id);
    let removed = app
        .send_as(Method::DELETE, &path, Some(&owner_cookie), None)
        .await;
    assert_eq!(removed.status(), 204);
    let left = next_of(&mut ada, "workspace.member.left").await;
    assert_eq!(left["workspaceMemberId"], bob.member_id.as_str());
    assert_eq!(
        next_of(&mut bobs, "workspace.member.left").await["workspaceMemberId"],
        bob.member_id.as_str()
    );
    assert!(
        closes(&mut bobs).await,
        "a removed member's socket is closed"
    );

    // Deleting the workspace closes every socket on it.
    let deleted = app
        .send_as(
            Method::DELETE,
            "/v1/workspaces/acme",
            Some(&owner_cookie),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    assert!(closes(&mut ada).await);
}

/// A member already online opening another socket (a second tab) is told their presence
/// directly; the workspace hears nothing, so many sockets never make a storm of updates.
#[tokio::test]
async fn another_socket_of_an_online_member_changes_nothing_for_the_others() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = Some(workspace.owner.cookie.as_str());
    let mut first_tab = connect(app, "?workspace=acme", cookie).await.unwrap();
    next_of(&mut first_tab, "hello").await;
    let mut second_tab = connect(app, "?workspace=acme", cookie).await.unwrap();
    let presence = first(&mut second_tab).await;
    assert_eq!(
        (presence["type"].as_str(), presence["status"].as_str()),
        (Some("presence.update"), Some("online"))
    );
    assert_eq!(first(&mut second_tab).await["type"], "hello");
    let quiet = tokio::time::timeout(Duration::from_millis(300), first_tab.next()).await;
    assert!(quiet.is_err(), "the first tab heard {quiet:?}");
}

/// Every ping checks the session again: a socket lives while its session does.
#[tokio::test]
async fn a_socket_closes_once_its_session_ends() {
    let app = &TestApp::spawn_with(&[("WS_PING_SECS", "1")]).await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let cookie = workspace.owner.cookie.as_str();
    let mut socket = connect(app, "?workspace=acme", Some(cookie)).await.unwrap();
    next_of(&mut socket, "hello").await;
    assert!(
        !closes(&mut socket).await,
        "pings answered and the session live: it stays open"
    );
    let signed_out = app
        .post_as("/v1/auth/sign-out", Some(cookie), json!({}))
        .await;
    assert_eq!(signed_out.status(), 200);
    assert!(closes(&mut socket).await, "closed at the next ping");
}

/// Deleting an account is each of its memberships leaving: the workspace hears it and the
/// deleted member's sockets close.
#[tokio::test]
async fn a_deleted_account_leaves_its_workspaces_and_its_sockets_close() {
    let app = &TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    let bob = app.join(&workspace, "bob@example.com", None).await;
    let admin = app.sign_in_admin("root@example.com").await;
    let mut ada = connect(app, "?workspace=acme", Some(&workspace.owner.cookie))
        .await
        .unwrap();
    next_of(&mut ada, "hello").await;
    let mut bobs = connect(app, "?workspace=acme", Some(&bob.session.cookie))
        .await
        .unwrap();
    next_of(&mut bobs, "hello").await;

    let bob_id = app.user_id(&bob.session).await;
    let removed = app
        .post_as(
            "/v1/auth/admin/remove-user",
            Some(&admin.cookie),
            json!({"userId": bob_id}),
        )
        .await;
    assert_eq!(removed.status(), 200);
    let left = next_of(&mut ada, "workspace.member.left").await;
    assert_eq!(left["workspaceMemberId"], bob.member_id.as_str());
    assert!(closes(&mut bobs).await);
}
