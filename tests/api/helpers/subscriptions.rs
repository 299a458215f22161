//! Resellers, subscriptions and the jobs that serve them: what the webhook and digest tests
//! call on a [`TestApp`]. With `Options::jobs` off nothing runs in the background and the
//! tests drive each step (the delta generator, one delivery round, one digest round); with it
//! on, the waits below poll the background loops instead.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use partnerfeed::clock::Clock;
use serde_json::{json, Value};

use super::{drill, TestApp, TestDb};

/// How long a wait below may take before the test fails.
const BOUND: Duration = Duration::from_secs(30);

impl TestApp {
    /// The database this app runs on (shared with the instances launched on it).
    pub fn test_db(&self) -> &Arc<TestDb> {
        &self._test_db
    }

    /// A request to `path` with `token`.
    pub fn req(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// `method path` with `token` and an optional JSON body: the status and the JSON answered
    /// (`Null` when the body is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, text) = self.call_text(method, path, token, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Confirms a digest address as its owner does: the mailed link's page, then the POST of its
    /// button (here as JSON `{"token"}`).
    pub async fn confirm(&self, link: &str) -> (u16, Value) {
        let token = link.rsplit("token=").next().unwrap_or_default();
        self.call(
            "POST",
            "/v1/subscriptions/confirm",
            "",
            Some(serde_json::json!({ "token": token })),
        )
        .await
    }

    /// `POST /v1/channels/fr-resellers/subscriptions` of a digest to `email`.
    pub async fn subscribe_digest(&self, token: &str, email: &str) -> (u16, Value) {
        self.call(
            "POST",
            "/v1/channels/fr-resellers/subscriptions",
            token,
            Some(serde_json::json!({ "email": email })),
        )
        .await
    }

    /// The same, where the answer must be JSON (`Null` when it is empty).
    pub async fn call_json(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, text) = self.call_text(method, path, token, body).await;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
        };
        (status, value)
    }

    async fn call_text(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.req(method, path, token);
        if let Some(body) = body {
            r = r.json(&body);
        }
        let response = r.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// The channel `channel` (fr-resellers' definition) and a reseller with access to it,
    /// whose contact is `it@{reseller}.example`; the reseller's token.
    pub async fn reseller(&self, channel: &str, reseller: &str) -> String {
        let (s, _) = self
            .call(
                "PUT",
                &format!("/v1/channels/{channel}"),
                &self.admin_token,
                Some(crate::channels::fr_resellers()),
            )
            .await;
        assert!(s == 201 || s == 200, "{s}");
        let (s, _) = self
            .call(
                "PUT",
                &format!("/v1/resellers/{reseller}"),
                &self.admin_token,
                Some(json!({"name": reseller, "email": format!("it@{reseller}.example"), "channels": [channel]})),
            )
            .await;
        assert!(s == 201 || s == 200, "{s}");
        let (s, body) = self
            .call(
                "POST",
                &format!("/v1/resellers/{reseller}/tokens"),
                &self.admin_token,
                Some(json!({})),
            )
            .await;
        assert_eq!(s, 201);
        body["token"].as_str().expect("token").to_string()
    }

    /// `PUT` a drill under each SKU.
    pub async fn put_products(&self, skus: impl IntoIterator<Item = String>) {
        for sku in skus {
            let (s, body) = self
                .call(
                    "PUT",
                    &format!("/v1/products/{sku}"),
                    &self.admin_token,
                    Some(drill(&sku)),
                )
                .await;
            assert!(s == 201 || s == 200, "{s} {body}");
        }
    }

    /// A subscription to `channel`: its id and secret.
    pub async fn subscribe(&self, token: &str, channel: &str, body: Value) -> (String, String) {
        let (s, sub) = self
            .call(
                "POST",
                &format!("/v1/channels/{channel}/subscriptions"),
                token,
                Some(body),
            )
            .await;
        assert_eq!(s, 201, "{sub}");
        (
            sub["id"].as_str().expect("id").to_string(),
            sub["secret"].as_str().expect("secret").to_string(),
        )
    }

    /// `POST /v1/subscriptions/{id}/{action}`.
    pub async fn act(
        &self,
        token: &str,
        id: &str,
        action: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/v1/subscriptions/{id}/{action}"),
            token,
            body,
        )
        .await
    }

    /// `PATCH /v1/subscriptions/{id}`.
    pub async fn patch(&self, token: &str, id: &str, body: Value) -> (u16, Value) {
        self.call(
            "PATCH",
            &format!("/v1/subscriptions/{id}"),
            token,
            Some(body),
        )
        .await
    }

    /// `GET /v1/subscriptions/{id}`, which must answer 200.
    pub async fn subscription(&self, token: &str, id: &str) -> Value {
        let (s, sub) = self
            .call("GET", &format!("/v1/subscriptions/{id}"), token, None)
            .await;
        assert_eq!(s, 200, "{sub}");
        sub
    }

    /// One round of the delivery job, as the background loop runs it: the delta generator
    /// until idle, the lag marks, then every subscription with work due now, each to the end
    /// of its attempt. The number of subscriptions served.
    pub async fn deliver_once(&self) -> usize {
        self.settle().await;
        partnerfeed::jobs::deliveries::mark_behind(&self.worker.db)
            .await
            .expect("mark lagging subscriptions");
        partnerfeed::jobs::deliveries::run_once(&self.worker)
            .await
            .expect("delivery round")
    }

    /// One round of the digest job at the test clock's time (the delta generator first);
    /// the number of digests served.
    pub async fn run_digests(&self) -> usize {
        self.settle().await;
        partnerfeed::jobs::digests::Digester::new(
            self.worker.clone(),
            self.clock.clone() as Arc<dyn Clock>,
        )
        .run_once()
        .await
        .expect("digest round")
    }

    /// One step towards what a test waits for: with the jobs off, a round of deliveries and
    /// one of digests (a retry is due only after its real delay, so a step that served
    /// nothing waits a little); with them on, a short wait for the background loops.
    pub async fn step(&self) {
        if self.jobs {
            tokio::time::sleep(Duration::from_millis(25)).await;
        } else if self.deliver_once().await + self.run_digests().await == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Delivers (or waits, with the background jobs on) until `check` holds for the
    /// subscription; bounded.
    pub async fn wait_for(
        &self,
        token: &str,
        id: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let sub = self.subscription(token, id).await;
            if check(&sub) {
                return sub;
            }
            assert!(started.elapsed() < BOUND, "never {what}: {sub}");
            self.step().await;
        }
    }

    /// Delivers (or waits) until the channel holds `live` products (the edits are published)
    /// and the subscription's cursor is the channel's current cursor; the channel's digest.
    pub async fn wait_caught_up(&self, token: &str, id: &str, channel: &str, live: u64) -> Value {
        let started = Instant::now();
        loop {
            if !self.jobs {
                self.settle().await;
            }
            let (_, digest) = self
                .call(
                    "GET",
                    &format!("/v1/channels/{channel}/digest"),
                    token,
                    None,
                )
                .await;
            let sub = self.subscription(token, id).await;
            if digest["count"] == live
                && sub["cursor"] == digest["cursor"]
                && sub["pending"].is_null()
            {
                return digest;
            }
            assert!(started.elapsed() < BOUND, "never caught up: {sub}");
            self.step().await;
        }
    }

    /// The mails in the outbox (the data directory's `outbox/`), oldest first.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.data_dir().join("outbox");
        let mut mails: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .map(|p| (p.clone(), std::fs::read_to_string(&p).expect("mail")))
                    .collect()
            })
            .unwrap_or_default();
        mails.sort();
        mails.into_iter().map(|(_, m)| m).collect()
    }
}
