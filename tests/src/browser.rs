//! A real browser for the console tests: Debian's headless Chromium driven
//! through its chromedriver over WebDriver ([`fantoccini`]).
//!
//! Each [`Browser`] starts a chromedriver of its own on a free port (in a
//! process group of its own, so that the Chromium it launches goes with it
//! when the browser is dropped) and opens one session with a fresh profile.
//! Helpers wait for elements and text with a timeout instead of sleeping,
//! sign in through the page, and read the browser's console: every test ends
//! with [`Browser::finish`], which fails on any console error.

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where Debian's chromium-driver package puts the driver.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's chromium package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long helpers wait for something to appear on the page.
pub const WAIT: Duration = Duration::from_secs(15);
/// A laptop screen.
pub const LAPTOP: (u32, u32) = (1280, 800);
/// A phone screen.
pub const PHONE: (u32, u32) = (390, 844);

/// A headless Chromium with its chromedriver, pointed at one api.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// `http://127.0.0.1:<port>` of the api whose console is tested.
    pub base_url: String,
    /// chromedriver, until it is killed.
    driver: Option<Child>,
    /// Console errors read so far.
    seen: Vec<String>,
}

/// `POST /session/{id}/se/log {"type": "browser"}`: chromedriver's console
/// log of the page (what `goog:loggingPrefs` asked it to keep), drained on read.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn capabilities(size: (u32, u32)) -> Capabilities {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1",
                format!("--window-size={},{}", size.0, size.1),
            ],
        },
        "goog:loggingPrefs": {"browser": "ALL"},
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object"),
    }
}

/// Kills chromedriver's process group (the driver and the browser it started).
fn kill_group(mut child: Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _gone = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _reaped = child.wait();
}

impl Browser {
    /// A browser with a laptop-sized window.
    pub async fn start(base_url: &str) -> Self {
        Self::start_sized(base_url, LAPTOP).await
    }

    /// A browser whose window is `size` (width, height) CSS pixels.
    pub async fn start_sized(base_url: &str, size: (u32, u32)) -> Self {
        let mut last_error = String::new();
        // A port found free can be taken before chromedriver binds it: retry.
        for _ in 0..3 {
            let port = free_port();
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start /usr/bin/chromedriver (apt-get install chromium-driver)");
            let url = format!("http://127.0.0.1:{port}/");
            if !wait_for_driver(&url, &mut driver).await {
                kill_group(driver);
                last_error = format!("chromedriver on port {port} did not answer");
                continue;
            }
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities(size))
                .connect(&url)
                .await
            {
                Ok(client) => {
                    let browser = Self {
                        client,
                        base_url: base_url.to_owned(),
                        driver: Some(driver),
                        seen: Vec::new(),
                    };
                    browser.resize(size).await;
                    return browser;
                }
                Err(err) => {
                    kill_group(driver);
                    last_error = format!("new WebDriver session: {err}");
                }
            }
        }
        panic!("could not start a browser: {last_error}");
    }

    /// Makes the page's viewport `size`, whatever the window decorations take.
    pub async fn resize(&self, size: (u32, u32)) {
        self.client
            .set_window_size(size.0, size.1)
            .await
            .expect("set the window size");
        let inner = self
            .eval("return [window.innerWidth, window.innerHeight];")
            .await;
        let (w, h) = (
            inner[0].as_u64().unwrap_or(0),
            inner[1].as_u64().unwrap_or(0),
        );
        if (w, h) != (u64::from(size.0), u64::from(size.1)) && w > 0 && h > 0 {
            let dw = i64::from(size.0) - i64::try_from(w).unwrap_or(0);
            let dh = i64::from(size.1) - i64::try_from(h).unwrap_or(0);
            let width = u32::try_from(i64::from(size.0) + dw).unwrap_or(size.0);
            let height = u32::try_from(i64::from(size.1) + dh).unwrap_or(size.1);
            self.client
                .set_window_size(width, height)
                .await
                .expect("set the window size");
        }
    }

    /// Opens `path` (e.g. `/ui/runs/…`) of the api.
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base_url))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path and query of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Runs `script` (a function body; `arguments` are not passed) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until an element matches `css`; returns it.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}` within {WAIT:?}: {e}"))
    }

    /// Waits until an element matching `css` contains `text`; returns the
    /// element's whole text.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen;
        loop {
            seen = self.texts(css).await;
            if let Some(found) = seen.iter().find(|t| t.contains(text)) {
                return found.clone();
            }
            if tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no `{css}` containing {text:?} within {WAIT:?}; saw {seen:?}");
    }

    /// Waits until no element matches `css`.
    pub async fn wait_gone(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.count(css).await > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{css}` still shown after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of every element matching `css` (as rendered: `innerText`).
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let found = self
            .client
            .execute(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);",
                vec![json!(css)],
            )
            .await
            .unwrap_or_else(|e| panic!("read `{css}`: {e}"));
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The text of the first element matching `css` ("" when none).
    pub async fn text(&self, css: &str) -> String {
        self.texts(css).await.into_iter().next().unwrap_or_default()
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.texts(css).await.len()
    }

    /// The labels of every visible button on the page.
    pub async fn buttons(&self) -> Vec<String> {
        self.texts("button:not([hidden])")
            .await
            .into_iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Clicks the element matching `css` (waiting for it first).
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        // Centred, so that the sticky header never covers it.
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center'});",
                vec![serde_json::to_value(&element).expect("element as JSON")],
            )
            .await
            .unwrap_or_else(|e| panic!("scroll to `{css}`: {e}"));
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Types `text` into the field matching `css` after clearing it.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear `{css}`: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// Chooses the option whose value is `value` in the select matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.wait_for(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choose {value:?} in `{css}`: {e}"));
    }

    /// Signs in with `token` through the sign-in page of the current URL
    /// (opening `/ui/` first when no page is shown yet); waits for the app.
    pub async fn sign_in(&self, token: &str) {
        if !self.path().await.starts_with("/ui") {
            self.goto("/ui/").await;
        }
        self.fill("#token", token).await;
        self.click("#sign-in").await;
        self.wait_for("#who-name").await;
    }

    /// Confirms the open confirmation dialog.
    pub async fn confirm_dialog(&self) {
        self.click("dialog[open] .dialog-confirm").await;
        self.wait_gone("dialog[open]").await;
    }

    /// Dismisses the open confirmation dialog.
    pub async fn dismiss_dialog(&self) {
        self.click("dialog[open] .dialog-dismiss").await;
        self.wait_gone("dialog[open]").await;
    }

    /// Names and values of the page's cookies (HttpOnly ones included).
    pub async fn cookies(&self) -> Vec<(String, String)> {
        self.client
            .get_all_cookies()
            .await
            .expect("cookies")
            .iter()
            .map(|c| (c.name().to_owned(), c.value().to_owned()))
            .collect()
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("screenshot")
    }

    /// Every error-level console message since the last read (the log is
    /// drained), collected for [`Browser::console_errors`].
    pub async fn console_entries(&mut self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("read the browser's console log");
        let fresh: Vec<String> = log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
            .collect();
        self.seen.extend(fresh);
        self.seen.clone()
    }

    /// Console errors so far: uncaught exceptions, `console.error`, CSP
    /// violations and assets that failed to load. An api answer of 4xx that
    /// the page handles (a 401 before sign-in, a 422 it shows next to a
    /// field) is no error of the page.
    pub async fn console_errors(&mut self) -> Vec<String> {
        let api_answer = format!("{}/v1/", self.base_url);
        self.console_entries()
            .await
            .into_iter()
            .filter(|message| {
                !(message.starts_with(&api_answer)
                    && message.contains("the server responded with a status of 4"))
            })
            .collect()
    }

    /// Fails on console errors, then closes the session and the browser.
    pub async fn finish(mut self) {
        let errors = self.console_errors().await;
        let client = self.client.clone();
        let _closed = client.close().await;
        if let Some(driver) = self.driver.take() {
            kill_group(driver);
        }
        assert!(errors.is_empty(), "console errors: {errors:#?}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            kill_group(driver);
        }
    }
}

async fn wait_for_driver(url: &str, driver: &mut Child) -> bool {
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if driver.try_wait().ok().flatten().is_some() {
            return false;
        }
        let status = http.get(format!("{url}status")).send().await;
        if status.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
