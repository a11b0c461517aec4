//! Billing against a stub of Stripe's HTTP API (its real paths, form bodies and JSON objects,
//! which async-stripe parses), with webhooks signed by Stripe's real scheme.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use stripe_webhook::Webhook;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, Workspace, error_code, eventually, json_of};

const WEBHOOK_SECRET: &str = "whsec_orbit_test";

fn plans() -> String {
    json!([
        {"key": "pro", "name": "Pro", "priceId": "price_pro_monthly", "unitAmount": 1900,
         "currency": "usd", "interval": "month", "perSeat": true, "trialDays": 14,
         "features": ["Everything"]},
        {"key": "team", "name": "Team", "priceId": "price_team_monthly", "unitAmount": 4900,
         "currency": "usd", "interval": "month"}
    ])
    .to_string()
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/api/fixtures/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The subscription fixture with `status`, `cancel_at_period_end` and its item's price.
fn subscription(status: &str, cancel_at_period_end: bool, price: &str) -> Value {
    let mut sub = fixture("subscription");
    sub["status"] = json!(status);
    sub["cancel_at_period_end"] = json!(cancel_at_period_end);
    sub["items"]["data"][0]["price"]["id"] = json!(price);
    sub["items"]["data"][0]["plan"]["id"] = json!(price);
    sub
}

async fn answer(stub: &MockServer, verb: &str, route: &str, body: Value) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(stub)
        .await;
}

/// Stripe's stub, and the app billing through it.
async fn spawn_with_stripe() -> (TestApp, MockServer) {
    let stub = MockServer::start().await;
    answer(&stub, "POST", "/v1/customers", fixture("customer")).await;
    answer(
        &stub,
        "POST",
        "/v1/checkout/sessions",
        fixture("checkout_session"),
    )
    .await;
    answer(
        &stub,
        "POST",
        "/v1/billing_portal/sessions",
        fixture("portal_session"),
    )
    .await;
    answer(&stub, "GET", "/v1/invoices", fixture("invoice_list")).await;
    let plans = plans();
    let uri = stub.uri();
    let app = TestApp::spawn_with(&[
        ("STRIPE_SECRET_KEY", "sk_test_orbit"),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("STRIPE_API_BASE", &uri),
        ("BILLING_PLANS_JSON", &plans),
    ])
    .await;
    (app, stub)
}

/// The form fields of the requests the stub received on `route`.
async fn forms(stub: &MockServer, verb: &str, route: &str) -> Vec<HashMap<String, String>> {
    stub.received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|request| request.method.as_str() == verb && request.url.path() == route)
        .map(|request| {
            let text = if request.body.is_empty() {
                request.url.query().unwrap_or_default().as_bytes().to_vec()
            } else {
                request.body
            };
            url::form_urlencoded::parse(&text).into_owned().collect()
        })
        .collect()
}

async fn post(app: &TestApp, path: &str, cookie: &str, body: Option<Value>) -> reqwest::Response {
    app.send_as(Method::POST, path, Some(cookie), body).await
}

async fn checkout(app: &TestApp, workspace: &Workspace) -> reqwest::Response {
    let body = json!({"planKey": "pro", "successUrl": "http://localhost:4001/billing?done=1",
                      "cancelUrl": "/billing"});
    let path = format!("/v1/workspaces/{}/billing/checkout", workspace.slug);
    post(app, &path, &workspace.owner.cookie, Some(body)).await
}

/// Delivers `event` signed at `at` (now when `None`).
async fn deliver(app: &TestApp, payload: &str, at: Option<i64>) -> reqwest::Response {
    let signature = Webhook::generate_test_header(payload, WEBHOOK_SECRET, at);
    app.client
        .post(app.url("/v1/billing/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(payload.to_owned())
        .send()
        .await
        .unwrap()
}

fn event(id: &str, kind: &str, object: Value) -> String {
    json!({"id": id, "object": "event", "created": 1_700_000_000, "livemode": false,
           "pending_webhooks": 1, "type": kind, "data": {"object": object}})
    .to_string()
}

async fn billing(app: &TestApp, workspace: &Workspace) -> Value {
    let path = format!("/v1/workspaces/{}/billing", workspace.slug);
    json_of(app.get_as(&path, &workspace.owner.cookie).await).await
}

/// A workspace subscribed to Pro: checkout, then Stripe's webhook applied.
async fn subscribed(app: &TestApp, stub: &MockServer) -> Workspace {
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    assert_eq!(checkout(app, &workspace).await.status(), 200);
    answer(
        stub,
        "GET",
        "/v1/subscriptions/sub_test123",
        subscription("active", false, "price_pro_monthly"),
    )
    .await;
    let created = event(
        "evt_created",
        "customer.subscription.created",
        subscription("incomplete", false, "price_pro_monthly"),
    );
    assert_eq!(deliver(app, &created, None).await.status(), 200);
    eventually(
        "the subscription is applied",
        Duration::from_secs(10),
        async || billing(app, &workspace).await["entitled"] == true,
    )
    .await;
    workspace
}

#[tokio::test]
async fn without_stripe_billing_is_off_and_says_so() {
    let app = TestApp::spawn().await;
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    assert_eq!(json_of(app.get("/v1/billing/plans").await).await, json!([]));
    assert_eq!(
        billing(&app, &workspace).await,
        json!({"enabled": false, "provider": "none", "plan": null, "subscription": null, "entitled": false})
    );
    let cookie = &workspace.owner.cookie;
    let calls = [
        (
            "checkout",
            json!({"planKey": "pro", "successUrl": "/a", "cancelUrl": "/b"}),
        ),
        ("portal", json!({"returnUrl": "/a"})),
        ("change-plan", json!({"planKey": "pro"})),
        ("cancel", json!({"atPeriodEnd": true})),
        ("resume", json!({})),
    ];
    for (action, body) in calls {
        let response = post(
            &app,
            &format!("/v1/workspaces/acme/billing/{action}"),
            cookie,
            Some(body),
        )
        .await;
        assert_eq!(
            error_code(response).await,
            (409, "billing.provider_not_configured".to_owned()),
            "{action}"
        );
    }
    let response = app
        .get_as("/v1/workspaces/acme/billing/invoices", cookie)
        .await;
    assert_eq!(response.status(), 409);
    let response = deliver(&app, &event("evt_1", "invoice.paid", json!({})), None).await;
    assert_eq!(
        error_code(response).await,
        (404, "billing.provider_not_configured".to_owned())
    );
    let config = json_of(app.get("/v1/config").await).await;
    assert_eq!(
        config["capabilities"]["billing"],
        json!({"enabled": false, "backend": "none"})
    );
}

#[tokio::test]
async fn a_checkout_bills_the_workspace_per_seat_through_one_customer() {
    let (app, stub) = spawn_with_stripe().await;
    let plans = json_of(app.get("/v1/billing/plans").await).await;
    assert_eq!(plans[0]["key"], "pro");
    assert_eq!(plans[0]["trialDays"], 14);
    assert!(plans[0].get("priceId").is_none(), "public data only");
    let workspace = app.open_workspace("ada@example.com", "acme").await;
    app.join(&workspace, "bob@example.com", None).await;

    let response = checkout(&app, &workspace).await;
    assert_eq!(response.status(), 200);
    let started = json_of(response).await;
    assert_eq!(
        started["redirectUrl"],
        "https://checkout.stripe.com/c/pay/cs_test_123"
    );
    assert_eq!(started["sessionId"], "cs_test_123");
    let sessions = forms(&stub, "POST", "/v1/checkout/sessions").await;
    let session = &sessions[0];
    assert_eq!(session["mode"], "subscription");
    assert_eq!(session["customer"], "cus_test123");
    assert_eq!(session["line_items[0][price]"], "price_pro_monthly");
    assert_eq!(
        session["line_items[0][quantity]"], "2",
        "one seat per member"
    );
    assert_eq!(session["subscription_data[trial_period_days]"], "14");
    assert_eq!(session["client_reference_id"], workspace.id);
    assert_eq!(
        session["success_url"],
        "http://localhost:4001/billing?done=1"
    );
    assert_eq!(session["cancel_url"], "http://localhost:4001/billing");

    // Again (the customer left checkout): the same customer.
    assert_eq!(checkout(&app, &workspace).await.status(), 200);
    assert_eq!(forms(&stub, "POST", "/v1/customers").await.len(), 1);

    let path = "/v1/workspaces/acme/billing/checkout";
    let cookie = &workspace.owner.cookie;
    let cases = [
        (
            json!({"planKey": "gold", "successUrl": "/a", "cancelUrl": "/b"}),
            422,
            "billing.plan_not_found",
        ),
        (
            json!({"planKey": "pro", "successUrl": "https://evil.example/a", "cancelUrl": "/b"}),
            422,
            "billing.untrusted_url",
        ),
        (
            json!({"planKey": "pro", "successUrl": "/a", "cancelUrl": "//evil.example/b"}),
            422,
            "billing.untrusted_url",
        ),
        (
            json!({"planKey": "pro", "successUrl": "/a"}),
            400,
            "validation",
        ),
        (
            json!({"planKey": "x".repeat(49), "successUrl": "/a", "cancelUrl": "/b"}),
            400,
            "validation",
        ),
    ];
    for (body, status, code) in cases {
        let response = post(&app, path, cookie, Some(body.clone())).await;
        assert_eq!(
            error_code(response).await,
            (status, code.to_owned()),
            "{body}"
        );
    }
}

#[tokio::test]
async fn webhooks_are_verified_and_applied_exactly_once() {
    let (app, stub) = spawn_with_stripe().await;
    let mut events = app.events.subscribe();
    let workspace = subscribed(&app, &stub).await;
    let state = billing(&app, &workspace).await;
    assert_eq!(
        state["subscription"]["status"], "active",
        "re-read from Stripe, not the event"
    );
    assert_eq!(state["subscription"]["planKey"], "pro");
    assert_eq!(state["subscription"]["quantity"], 3);
    assert_eq!(
        state["subscription"]["currentPeriodEnd"],
        "2023-12-14T22:13:20.000Z"
    );
    assert_eq!(state["plan"]["key"], "pro");
    let announced = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let event = events.recv().await.unwrap();
            if event.kind() == "billing.subscription.updated" {
                return event.workspace_id().to_owned();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(announced, workspace.id);

    // A replay changes nothing and reads nothing.
    let reads = || async {
        forms(&stub, "GET", "/v1/subscriptions/sub_test123")
            .await
            .len()
    };
    let before = reads().await;
    let created = event(
        "evt_created",
        "customer.subscription.created",
        subscription("incomplete", false, "price_pro_monthly"),
    );
    let replay = json_of(deliver(&app, &created, None).await).await;
    assert_eq!(replay, json!({"received": true, "duplicate": true}));
    app.jobs_idle().await;
    assert_eq!(reads().await, before);

    // Refused: tampered, expired, unsigned, signed but not an event.
    let signature = Webhook::generate_test_header(&created, WEBHOOK_SECRET, None);
    let tampered = created.replace("evt_created", "evt_forged");
    let response = app
        .client
        .post(app.url("/v1/billing/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (400, "billing.webhook.invalid_signature".to_owned())
    );
    let old = chrono::Utc::now().timestamp() - 400;
    let fresh = event(
        "evt_old",
        "customer.subscription.updated",
        subscription("active", false, "price_pro_monthly"),
    );
    let response = deliver(&app, &fresh, Some(old)).await;
    assert_eq!(
        error_code(response).await,
        (400, "billing.webhook.invalid_signature".to_owned())
    );
    let response = app
        .client
        .post(app.url("/v1/billing/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(fresh.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (400, "billing.webhook.invalid_signature".to_owned())
    );
    let response = deliver(&app, r#"{"hello": "world"}"#, None).await;
    assert_eq!(
        error_code(response).await,
        (400, "billing.webhook.malformed".to_owned())
    );
    let broken = event(
        "evt_broken",
        "customer.subscription.updated",
        json!({"id": 5}),
    );
    let response = deliver(&app, &broken, None).await;
    assert_eq!(
        error_code(response).await,
        (400, "billing.webhook.malformed".to_owned())
    );

    // An event for a customer no workspace has is recorded and skipped.
    let mut stranger = subscription("active", false, "price_pro_monthly");
    stranger["customer"] = json!("cus_stranger");
    let response = deliver(
        &app,
        &event("evt_stranger", "customer.subscription.updated", stranger),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    // Events billing does not act on are recorded as ignored.
    let other = event("evt_other", "customer.created", fixture("customer"));
    assert_eq!(deliver(&app, &other, None).await.status(), 200);
    app.jobs_idle().await;
    let outcomes = sea_orm::ConnectionTrait::query_all_raw(
        &app.db,
        sea_orm::Statement::from_string(
            sea_orm::ConnectionTrait::get_database_backend(&app.db),
            "SELECT id, outcome FROM billing_webhook_events ORDER BY id",
        ),
    )
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        (
            row.try_get::<String>("", "id").unwrap(),
            row.try_get::<String>("", "outcome").unwrap(),
        )
    })
    .collect::<Vec<_>>();
    let expected = [
        ("evt_created", "applied"),
        ("evt_other", "ignored"),
        ("evt_stranger", "unknown_customer"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(id, outcome)| (id.to_string(), outcome.to_string()))
        .collect();
    assert_eq!(outcomes, expected);
}

#[tokio::test]
async fn an_event_out_of_order_leaves_the_latest_state() {
    let (app, stub) = spawn_with_stripe().await;
    let workspace = subscribed(&app, &stub).await;
    // Stripe now says past_due; an older "active" event arrives after the newer one.
    stub.reset().await;
    answer(
        &stub,
        "GET",
        "/v1/subscriptions/sub_test123",
        subscription("past_due", false, "price_pro_monthly"),
    )
    .await;
    for id in ["evt_newer", "evt_older"] {
        let status = if id == "evt_newer" {
            "past_due"
        } else {
            "active"
        };
        let payload = event(
            id,
            "customer.subscription.updated",
            subscription(status, false, "price_pro_monthly"),
        );
        assert_eq!(deliver(&app, &payload, None).await.status(), 200);
    }
    app.jobs_idle().await;
    let state = billing(&app, &workspace).await;
    assert_eq!(state["subscription"]["status"], "past_due");
    assert_eq!(state["entitled"], true, "past due, within the grace period");
}

#[tokio::test]
async fn subscription_changes_go_through_stripe() {
    let (app, stub) = spawn_with_stripe().await;
    let workspace = subscribed(&app, &stub).await;
    let cookie = &workspace.owner.cookie;
    let base = "/v1/workspaces/acme/billing";
    let response = checkout(&app, &workspace).await;
    assert_eq!(
        error_code(response).await,
        (409, "billing.already_subscribed".to_owned())
    );

    answer(
        &stub,
        "POST",
        "/v1/subscriptions/sub_test123",
        subscription("active", true, "price_pro_monthly"),
    )
    .await;
    let canceled = json_of(
        post(
            &app,
            &format!("{base}/cancel"),
            cookie,
            Some(json!({"atPeriodEnd": true})),
        )
        .await,
    )
    .await;
    assert_eq!(canceled["subscription"]["cancelAtPeriodEnd"], true);
    let updates = forms(&stub, "POST", "/v1/subscriptions/sub_test123").await;
    assert_eq!(updates[0]["cancel_at_period_end"], "true");
    let response = post(
        &app,
        &format!("{base}/cancel"),
        cookie,
        Some(json!({"atPeriodEnd": false})),
    )
    .await;
    assert_eq!(response.status(), 422);

    stub.reset().await;
    answer(
        &stub,
        "GET",
        "/v1/subscriptions/sub_test123",
        subscription("active", true, "price_pro_monthly"),
    )
    .await;
    answer(
        &stub,
        "POST",
        "/v1/subscriptions/sub_test123",
        subscription("active", false, "price_pro_monthly"),
    )
    .await;
    let resumed = json_of(post(&app, &format!("{base}/resume"), cookie, None).await).await;
    assert_eq!(resumed["subscription"]["cancelAtPeriodEnd"], false);
    assert_eq!(
        forms(&stub, "POST", "/v1/subscriptions/sub_test123").await[0]["cancel_at_period_end"],
        "false"
    );

    stub.reset().await;
    answer(
        &stub,
        "GET",
        "/v1/subscriptions/sub_test123",
        subscription("active", false, "price_pro_monthly"),
    )
    .await;
    answer(
        &stub,
        "POST",
        "/v1/subscriptions/sub_test123",
        subscription("active", false, "price_team_monthly"),
    )
    .await;
    let changed = json_of(
        post(
            &app,
            &format!("{base}/change-plan"),
            cookie,
            Some(json!({"planKey": "team"})),
        )
        .await,
    )
    .await;
    assert_eq!(changed["plan"]["key"], "team");
    let change = &forms(&stub, "POST", "/v1/subscriptions/sub_test123").await[0];
    assert_eq!(change["items[0][id]"], "si_test123");
    assert_eq!(change["items[0][price]"], "price_team_monthly");
    assert_eq!(change["items[0][quantity]"], "1", "team is not per seat");
    assert_eq!(change["proration_behavior"], "create_prorations");
    let response = post(
        &app,
        &format!("{base}/change-plan"),
        cookie,
        Some(json!({"planKey": "gold"})),
    )
    .await;
    assert_eq!(
        error_code(response).await,
        (422, "billing.plan_not_found".to_owned())
    );

    answer(&stub, "GET", "/v1/invoices", fixture("invoice_list")).await;
    let invoices = json_of(
        app.get_as(&format!("{base}/invoices?limit=5"), cookie)
            .await,
    )
    .await;
    assert_eq!(invoices["items"][0]["id"], "in_test123");
    assert_eq!(invoices["items"][0]["amountPaid"], 3000);
    assert_eq!(
        invoices["items"][0]["pdfUrl"],
        "https://pay.stripe.com/invoice/test_123/pdf"
    );
    assert_eq!(invoices["nextCursor"], Value::Null);
    let listed = &forms(&stub, "GET", "/v1/invoices").await[0];
    assert_eq!(
        (listed["customer"].as_str(), listed["limit"].as_str()),
        ("cus_test123", "5")
    );

    answer(
        &stub,
        "POST",
        "/v1/billing_portal/sessions",
        fixture("portal_session"),
    )
    .await;
    let portal = post(
        &app,
        &format!("{base}/portal"),
        cookie,
        Some(json!({"returnUrl": "/settings"})),
    )
    .await;
    assert_eq!(
        json_of(portal).await["redirectUrl"],
        "https://billing.stripe.com/p/session/test_123"
    );

    let audit = json_of(
        app.get_as("/v1/workspaces/acme/audit?limit=200", cookie)
            .await,
    )
    .await;
    let billing: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"].as_str().unwrap().starts_with("billing."))
        .collect();
    let actions: Vec<&str> = billing
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "billing.plan_changed",
            "billing.resumed",
            "billing.canceled",
            "billing.subscription_updated",
            "billing.checkout_started",
        ],
        "refused changes (a second checkout, an unknown plan) record nothing"
    );
    let system = billing[3];
    assert_eq!(
        system["actor"]["userId"],
        Value::Null,
        "webhooks act as the system"
    );
    assert_eq!(system["data"]["current"]["status"], "active");
    assert_eq!(billing[0]["data"]["previous"]["planKey"], "pro");
    assert_eq!(billing[0]["data"]["current"]["planKey"], "team");
    assert!(billing[0]["actor"]["userId"].is_string());
}

#[tokio::test]
async fn only_billing_managers_change_billing_and_only_their_own() {
    let (app, stub) = spawn_with_stripe().await;
    let workspace = subscribed(&app, &stub).await;
    let member = app.join(&workspace, "bob@example.com", None).await;
    let admin = app
        .join(
            &workspace,
            "cat@example.com",
            Some(&workspace.admin_role_id),
        )
        .await;
    let base = "/v1/workspaces/acme/billing";
    assert_eq!(
        app.get_as(base, &member.session.cookie).await.status(),
        200,
        "any member may look"
    );
    let calls = [
        ("/portal", Some(json!({"returnUrl": "/a"}))),
        ("/cancel", Some(json!({"atPeriodEnd": true}))),
        ("/resume", None),
        ("/change-plan", Some(json!({"planKey": "team"}))),
    ];
    for (action, body) in calls {
        let response = post(
            &app,
            &format!("{base}{action}"),
            &member.session.cookie,
            body,
        )
        .await;
        assert_eq!(
            error_code(response).await,
            (403, "permission.denied".to_owned()),
            "{action}"
        );
    }
    let response = app
        .get_as(&format!("{base}/invoices"), &member.session.cookie)
        .await;
    assert_eq!(response.status(), 403);
    let response = post(
        &app,
        &format!("{base}/portal"),
        &admin.session.cookie,
        Some(json!({"returnUrl": "/a"})),
    )
    .await;
    assert_eq!(response.status(), 200, "admins manage billing");
    let outsider = app.open_workspace("eve@example.com", "other").await;
    assert_eq!(app.get_as(base, &outsider.owner.cookie).await.status(), 403);
    let roles = json_of(
        app.get_as("/v1/workspaces/acme/roles", &workspace.owner.cookie)
            .await,
    )
    .await;
    for role in roles.as_array().unwrap() {
        let holds = role["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("workspace.billing.manage"));
        assert_eq!(
            holds,
            role["systemKey"] == "OWNER" || role["systemKey"] == "ADMIN",
            "{role}"
        );
    }
}

#[tokio::test]
async fn deleting_a_subscribed_workspace_cancels_its_subscription_first() {
    let (app, stub) = spawn_with_stripe().await;
    let workspace = subscribed(&app, &stub).await;
    Mock::given(method("DELETE"))
        .and(path("/v1/subscriptions/sub_test123"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"error": {"type": "api_error"}})),
        )
        .up_to_n_times(1)
        .mount(&stub)
        .await;
    let cookie = &workspace.owner.cookie;
    let response = app
        .send_as(Method::DELETE, "/v1/workspaces/acme", Some(cookie), None)
        .await;
    assert_eq!(
        error_code(response).await,
        (409, "billing.active_subscription".to_owned())
    );
    assert_eq!(
        app.get_as("/v1/workspaces/acme", cookie).await.status(),
        200,
        "kept"
    );
    answer(
        &stub,
        "DELETE",
        "/v1/subscriptions/sub_test123",
        subscription("canceled", false, "price_pro_monthly"),
    )
    .await;
    let response = app
        .send_as(Method::DELETE, "/v1/workspaces/acme", Some(cookie), None)
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        forms(&stub, "DELETE", "/v1/subscriptions/sub_test123")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn per_seat_quantity_follows_the_members() {
    let (app, stub) = spawn_with_stripe().await;
    let workspace = subscribed(&app, &stub).await;
    let mut two = subscription("active", false, "price_pro_monthly");
    two["items"]["data"][0]["quantity"] = json!(2);
    answer(&stub, "POST", "/v1/subscriptions/sub_test123", two).await;
    // Stripe's fixture says 3 seats; the workspace has one member, then two.
    let bob = app.join(&workspace, "bob@example.com", None).await;
    eventually(
        "the seats are synced",
        Duration::from_secs(20),
        async || billing(&app, &workspace).await["subscription"]["quantity"] == 2,
    )
    .await;
    let updates = forms(&stub, "POST", "/v1/subscriptions/sub_test123").await;
    assert_eq!(updates.len(), 1, "one call for the burst");
    assert_eq!(updates[0]["items[0][quantity]"], "2");
    assert_eq!(updates[0]["items[0][price]"], "price_pro_monthly");

    let mut one = subscription("active", false, "price_pro_monthly");
    one["items"]["data"][0]["quantity"] = json!(1);
    stub.reset().await;
    answer(
        &stub,
        "GET",
        "/v1/subscriptions/sub_test123",
        subscription("active", false, "price_pro_monthly"),
    )
    .await;
    answer(&stub, "POST", "/v1/subscriptions/sub_test123", one).await;
    let path = format!("/v1/workspaces/acme/members/{}", bob.member_id);
    let removed = app
        .send_as(Method::DELETE, &path, Some(&workspace.owner.cookie), None)
        .await;
    assert_eq!(removed.status(), 204);
    eventually(
        "the seats follow the removal",
        Duration::from_secs(20),
        async || billing(&app, &workspace).await["subscription"]["quantity"] == 1,
    )
    .await;
    assert_eq!(
        forms(&stub, "POST", "/v1/subscriptions/sub_test123").await[0]["items[0][quantity]"],
        "1"
    );
}
