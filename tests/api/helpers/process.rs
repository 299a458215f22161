//! The real `partnerfeed` binary as a child process, for the tests that kill it (SIGKILL) and
//! start it again on the same database: a [`Deployment`] (a database, an admin token, the
//! environment every instance gets) and its running [`Instance`]s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use partnerfeed::service::tokens;
use partnerfeed::store::{Backend, Db};
use reqwest::{Client, Method};
use serde_json::{json, Value};

use super::TestDb;
use crate::channels::{jcs, sha256_hex, Replica};

/// One deployment: a database, an admin token, the environment every instance gets.
pub struct Deployment {
    pub url: String,
    pub data_dir: PathBuf,
    pub admin: String,
    pub client: Client,
    env: Vec<(String, String)>,
    _db: Option<TestDb>,
}

/// A running `partnerfeed serve`; killed with SIGKILL when dropped.
pub struct Instance {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Deployment {
    /// A deployment on a fresh test database (SQLite, or PostgreSQL with `TEST_DATABASE_URL`).
    pub fn new(env: &[(&str, &str)]) -> Deployment {
        let db = TestDb::new();
        let mut d = Deployment::on(&db.url, db.data_dir(), env);
        d._db = Some(db);
        d
    }

    /// A deployment on a database the caller owns.
    pub fn on(url: &str, data_dir: PathBuf, env: &[(&str, &str)]) -> Deployment {
        Deployment {
            url: url.to_string(),
            data_dir,
            admin: tokens::generate(),
            client: Client::builder()
                .no_gzip()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _db: None,
        }
    }

    /// Starts an instance on a free loopback port and waits until it answers `/readyz`.
    pub async fn start(&self) -> Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = self
            .data_dir
            .join(format!("serve-{port}-{}.log", tokens::generate()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_partnerfeed"));
        cmd.arg("serve")
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &self.url)
            .env("PARTNERFEED_DATA_DIR", &self.data_dir)
            .env("PARTNERFEED_ADMIN_TOKEN", &self.admin)
            .env("PARTNERFEED_WORKERS", "2")
            .env("PARTNERFEED_RATE_LIMIT", "0")
            .env("PARTNERFEED_TOKEN_CONCURRENCY", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let instance = Instance {
            child: cmd.spawn().expect("spawn partnerfeed serve"),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let ready = format!("{}/readyz", instance.base);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.client.get(&ready).send().await {
                if r.status() == 200 {
                    return instance;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server never became ready:\n{}",
                instance.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request with a bearer token; the status and the JSON body (`Null` when not JSON).
    pub async fn call(
        &self,
        instance: &Instance,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut r = self
            .client
            .request(method, format!("{}{path}", instance.base))
            .bearer_auth(token);
        if let Some(body) = body {
            r = r.json(body);
        }
        let response = r.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Like [`Deployment::call`], expecting success.
    pub async fn ok(
        &self,
        instance: &Instance,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Value {
        let (status, body) = self
            .call(instance, method.clone(), path, token, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", instance.log()));
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        body
    }

    /// Creates `channel` with `definition`, a reseller reading it, and returns its token.
    pub async fn channel(&self, i: &Instance, channel: &str, definition: &Value) -> String {
        let admin = &self.admin;
        let path = format!("/v1/channels/{channel}");
        self.ok(i, Method::PUT, &path, admin, Some(definition))
            .await;
        let reseller = format!("shop-{channel}");
        let body = json!({"name": reseller, "email": "it@shop.example", "channels": [channel]});
        let path = format!("/v1/resellers/{reseller}");
        self.ok(i, Method::PUT, &path, admin, Some(&body)).await;
        let path = format!("/v1/resellers/{reseller}/tokens");
        let body = self
            .ok(
                i,
                Method::POST,
                &path,
                admin,
                Some(&json!({"name": "sync"})),
            )
            .await;
        body["token"].as_str().unwrap().to_string()
    }

    /// Waits (bounded) until the outbox is empty and no channel is being re-evaluated.
    pub async fn settle(&self, i: &Instance) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let metrics = self.client.get(format!("{}/metrics", i.base));
            if let Ok(r) = metrics.bearer_auth(&self.admin).send().await {
                let text = r.text().await.unwrap_or_default();
                let idle = text.lines().any(|l| l == "partnerfeed_outbox_backlog 0")
                    && !text.lines().any(|l| {
                        l.starts_with("partnerfeed_channel_reevaluating{") && l.ends_with(" 1")
                    });
                if idle {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "never settled:\n{}", i.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A metric's value (the first sample whose line starts with `name`).
    pub async fn metric(&self, i: &Instance, name: &str) -> Option<f64> {
        let text = self
            .client
            .get(format!("{}/metrics", i.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Every product of the catalog, through the keyset list.
    pub async fn catalog(&self, i: &Instance) -> BTreeMap<String, Value> {
        let mut products = BTreeMap::new();
        let mut after = String::new();
        loop {
            let path = if after.is_empty() {
                "/v1/products?limit=1000".to_string()
            } else {
                format!("/v1/products?limit=1000&after={after}")
            };
            let page = self.ok(i, Method::GET, &path, &self.admin, None).await;
            for p in page["products"].as_array().unwrap() {
                products.insert(p["sku"].as_str().unwrap().to_string(), p.clone());
            }
            match page["next"].as_str() {
                Some(next) => after = next.to_string(),
                None => return products,
            }
        }
    }

    /// The full feed as a replica, every hash checked.
    pub async fn feed(&self, i: &Instance, token: &str, channel: &str) -> Replica {
        let path = format!("/v1/channels/{channel}/feed");
        let feed = self.ok(i, Method::GET, &path, token, None).await;
        let mut replica = Replica {
            cursor: feed["cursor"].as_str().unwrap().to_string(),
            ..Default::default()
        };
        for p in feed["products"].as_array().unwrap() {
            let hash = p["hash"].as_str().unwrap();
            assert_eq!(sha256_hex(&jcs(&p["record"])), hash, "hash of {}", p["sku"]);
            let sku = p["sku"].as_str().unwrap().to_string();
            replica
                .records
                .insert(sku, (hash.into(), p["record"].clone()));
        }
        replica
    }

    /// Applies one changes page to `replica`; whether more pages follow. `Err` when the server
    /// is gone (a follower caught by the crash).
    pub async fn follow_page(
        &self,
        i: &Instance,
        token: &str,
        channel: &str,
        replica: &mut Replica,
        limit: usize,
    ) -> reqwest::Result<(bool, Vec<String>)> {
        let path = if replica.cursor.is_empty() {
            format!("/v1/channels/{channel}/changes?limit={limit}")
        } else {
            format!(
                "/v1/channels/{channel}/changes?since={}&limit={limit}",
                replica.cursor
            )
        };
        let (status, page) = self.call(i, Method::GET, &path, token, None).await?;
        assert_eq!(status, 200, "{path}: {page}");
        let mut skus = Vec::new();
        for change in page["changes"].as_array().unwrap() {
            let sku = change["sku"].as_str().unwrap().to_string();
            apply(replica, change);
            skus.push(sku);
        }
        replica.cursor = page["next"].as_str().unwrap().to_string();
        Ok((page["has_more"].as_bool().unwrap(), skus))
    }

    /// Follows until `has_more` is false; the SKUs received, in order.
    pub async fn follow(
        &self,
        i: &Instance,
        token: &str,
        channel: &str,
        replica: &mut Replica,
        limit: usize,
    ) -> Vec<String> {
        let mut all = Vec::new();
        loop {
            let (more, skus) = self
                .follow_page(i, token, channel, replica, limit)
                .await
                .unwrap_or_else(|e| panic!("changes: {e}\n{}", i.log()));
            all.extend(skus);
            if !more {
                return all;
            }
        }
    }

    /// The server's `{cursor, count, digest}` of a channel.
    pub async fn digest(&self, i: &Instance, token: &str, channel: &str) -> Value {
        let path = format!("/v1/channels/{channel}/digest");
        self.ok(i, Method::GET, &path, token, None).await
    }

    /// The store, as another process opens it, for the checks the API cannot express.
    pub fn db(&self) -> Db {
        Db::connect(Backend::from_url(&self.url).unwrap()).unwrap()
    }
}

impl Instance {
    /// SIGKILL: no shutdown hook, no flush, no rollback but the database's own.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// What the instance logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Applies one change (`upsert` or `delete`) to a replica, checking the hash.
pub fn apply(replica: &mut Replica, change: &Value) {
    let sku = change["sku"].as_str().unwrap().to_string();
    match change["op"].as_str().unwrap() {
        "upsert" => {
            let hash = change["hash"].as_str().unwrap();
            assert_eq!(sha256_hex(&jcs(&change["record"])), hash, "hash of {sku}");
            replica
                .records
                .insert(sku, (hash.into(), change["record"].clone()));
        }
        "delete" => {
            replica.records.remove(&sku);
        }
        op => panic!("unknown op {op}"),
    }
}
