//! The browser harness: Debian's Chromium, headless, driven over WebDriver (W3C JSON over
//! HTTP, sent with reqwest) by `chromedriver` from the `chromium-driver` package.
//!
//! When `/usr/bin/chromium` or `/usr/bin/chromedriver` is missing, [`Browser::start`] installs
//! them (`apt-get install -y chromium chromium-driver`, as root), saying so loudly on the
//! terminal; when it cannot, the test fails with a message naming what to install. Browser
//! tests never skip silently.
//!
//! Each test gets its own chromedriver on a free port and its own Chromium with a fresh
//! profile (`--user-data-dir` in a temp dir); both are ended when the `Browser` is dropped.
//! [`Browser::start`] holds a lock for the browser's lifetime, so browser tests run one at a
//! time (two cores; each Chromium is heavy).

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Says `line` on the terminal, past the test harness's capture.
fn loud(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Makes sure Chromium and chromedriver are installed, installing them with apt-get if not.
pub fn ensure_installed() {
    let mut done = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let present =
        || std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !present() {
        loud("=== browser tests: Chromium or chromedriver is missing ===");
        loud("=== running: apt-get update && apt-get install -y chromium chromium-driver ===");
        let run = |args: &[&str]| {
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        let ok =
            run(&["update", "-q"]) && run(&["install", "-y", "-q", "chromium", "chromium-driver"]);
        assert!(
            ok && present(),
            "the browser tests need {CHROMIUM} and {CHROMEDRIVER}, and installing them failed: \
             run `apt-get install -y chromium chromium-driver` as root (Debian), then rerun"
        );
        loud("=== browser tests: chromium and chromium-driver installed ===");
    }
    *done = true;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A headless Chromium under a WebDriver session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and a Chromium session (installing them first if needed).
    pub async fn start() -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        ensure_installed();
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == true {
                        break;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("temp dir");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let r = client
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new WebDriver session");
        let body: Value = r.json().await.expect("session json");
        let session = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start: {body}"))
            .to_string();
        Browser {
            driver,
            base,
            session,
            client,
            _profile: profile,
            _turn: turn,
        }
    }

    /// Sends a WebDriver command; answers its `value`, failing the test on a WebDriver error.
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let value = self.try_cmd(method, path, body).await;
        match value {
            Ok(v) => v,
            Err(e) => panic!("WebDriver {path}: {e}"),
        }
    }

    async fn try_cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.client.request(method.clone(), url);
        if method == reqwest::Method::POST {
            req = req.json(&body.unwrap_or_else(|| json!({})));
        }
        let r = req.send().await.expect("WebDriver request");
        let ok = r.status().is_success();
        let v: Value = r.json().await.expect("WebDriver json");
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(v["value"].clone())
        }
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The path (and query) of the current page.
    pub async fn path(&self) -> String {
        let url = url::Url::parse(&self.url().await).expect("a URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The HTML of the current page, as the browser holds it.
    pub async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The id of the first element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Option<String> {
        self.try_cmd(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )
        .await
        .ok()
        .and_then(|v| v[ELEMENT].as_str().map(str::to_string))
    }

    /// The id of the first element matching `css`; fails the test when there is none.
    pub async fn element(&self, css: &str) -> String {
        match self.find(css).await {
            Some(id) => id,
            None => panic!(
                "no element {css} on {}:\n{}",
                self.url().await,
                self.text("body").await
            ),
        }
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let Some(id) = self.find(css).await else {
            return String::new();
        };
        self.cmd(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Types `text` into the field matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/clear"), None)
            .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Clicks the element matching `css` (a link or a submit button) and waits until the
    /// page it leads to has loaded.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.run("window.__pfOldPage = true;").await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/click"), None)
            .await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let loaded = self
                .try_cmd(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({"script": "return window.__pfOldPage !== true && document.readyState === 'complete';", "args": []})),
                )
                .await;
            if loaded == Ok(Value::Bool(true)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clicking {css} led to no new page within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Runs `script` in the page (WebDriver's own channel, not subject to the page's CSP).
    pub async fn run(&self, script: &str) -> Value {
        self.execute("sync", script).await
    }

    async fn execute(&self, how: &str, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            &format!("/execute/{how}"),
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Runs the asynchronous `script` in the page: it ends by calling its last argument
    /// (WebDriver's `execute/async`) with the value answered.
    pub async fn run_async(&self, script: &str) -> Value {
        self.execute("async", script).await
    }

    /// Sets the window's outer size.
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// A PNG of the visible part of the page.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let shot = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("a base64 screenshot"))
            .expect("base64")
    }

    /// The text of an open `alert()`, if one is open.
    pub async fn alert(&self) -> Option<String> {
        self.try_cmd(reqwest::Method::GET, "/alert/text", None)
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    }

    /// The cookie `name` as the browser holds it (`httpOnly`, `sameSite`, ...).
    pub async fn cookie(&self, name: &str) -> Option<Value> {
        self.try_cmd(reqwest::Method::GET, &format!("/cookie/{name}"), None)
            .await
            .ok()
    }

    /// Signs in at `address` with `token` through the sign-in form.
    pub async fn sign_in(&self, address: &str, token: &str) {
        self.goto(&format!("{address}/")).await;
        assert_eq!(self.path().await, "/sign-in", "/ leads to the sign-in page");
        self.fill("#f-token", token).await;
        self.click("form[action=\"/sign-in\"] button[type=submit]")
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium through chromedriver (a raw DELETE: no runtime here), then
        // chromedriver itself.
        let host = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut stream) = std::net::TcpStream::connect(&host) {
            use std::io::Read as _;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
