//! Test harness: a real `mintoken` server (in-process, on a real TCP socket, with its
//! own temporary data directory) in front of a real `mintoken-mock` upstream.
#![allow(dead_code)]

pub mod gate;
pub mod sessions;

use mintoken::cli::{ServeArgs, StoreArgs};
use mintoken::config::Config;
use mintoken::server::Server;
use mintoken_mock::MockServer;
use serde_json::{Value, json};

pub const PROVIDER_KEY: &str = "sk-test-canary-provider-key-4c1d";

pub struct TestApp {
    pub server: Server,
    pub mock: MockServer,
    pub http: reqwest::Client,
    pub base: String,
    pub dir: tempfile::TempDir,
    /// The app's own PostgreSQL database when `MINTOKEN_TEST_DATABASE_URL` is set.
    pub db: Option<TestDatabase>,
}

/// A fresh PostgreSQL database for one test app, created in the cluster that
/// `MINTOKEN_TEST_DATABASE_URL` points at and dropped with this value, so tests never
/// see each other's rows and runs leave nothing behind.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create(admin_url: &str) -> TestDatabase {
        use sqlx::{Connection, Executor};
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("mintoken_test_{}_{n}", std::process::id());
        let mut conn = sqlx::postgres::PgConnection::connect(admin_url).await.expect("PostgreSQL reachable");
        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
        let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        let url = format!("{server}/{name}{}", query.map(|q| format!("?{q}")).unwrap_or_default());
        TestDatabase { url, admin_url: admin_url.to_owned(), name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                use sqlx::{Connection, Executor};
                if let Ok(mut conn) = sqlx::postgres::PgConnection::connect(&admin_url).await {
                    let _ =
                        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
                }
            });
        })
        .join();
    }
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with("").await
    }

    /// Starts with extra TOML configuration (e.g. plan overrides).
    pub async fn start_with(toml: &str) -> TestApp {
        Self::start_full(toml, None).await
    }

    /// Starts with extra TOML and, optionally, another OpenAI upstream than the mock.
    pub async fn start_full(toml: &str, openai_base_url: Option<String>) -> TestApp {
        let db = match std::env::var("MINTOKEN_TEST_DATABASE_URL") {
            Ok(admin_url) => Some(TestDatabase::create(&admin_url).await),
            Err(_) => None,
        };
        let database_url = db.as_ref().map(|db| db.url.clone());
        let mut app = Self::start_on(toml, openai_base_url, database_url).await;
        app.db = db;
        app
    }

    /// Starts on the given database (`None`: SQLite in the app's data directory).
    pub async fn start_on(toml: &str, openai_base_url: Option<String>, database_url: Option<String>) -> TestApp {
        let mock = MockServer::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("mintoken.toml");
        // `$MOCK_BASE_URL` in the TOML stands for the mock (e.g. the fake Razorpay's base_url).
        std::fs::write(&config_path, toml.replace("$MOCK_BASE_URL", &mock.base_url())).expect("write config");
        let args = ServeArgs {
            store: StoreArgs { config: Some(config_path), data_dir: Some(dir.path().join("data")), database_url },
            listen: Some("127.0.0.1:0".parse().unwrap()),
            openai_base_url: Some(openai_base_url.unwrap_or_else(|| mock.base_url())),
            anthropic_base_url: Some(mock.base_url()),
            google_base_url: Some(mock.base_url()),
            upstream_timeout_secs: Some(5),
            ..Default::default()
        };
        let config = Config::load(&args).expect("config");
        let server = Server::start(config).await.expect("server starts");
        let base = format!("http://{}", server.addr);
        TestApp { server, mock, http: reqwest::Client::new(), base, dir, db: None }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).header("content-type", "application/json").body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Signs up and returns the session.
    pub async fn signup(&self, email: &str) -> Value {
        let (status, session) = self
            .post_json("/v1/auth/signup", None, json!({ "email": email, "password": "correct horse battery" }))
            .await;
        assert_eq!(status, 200, "signup: {session}");
        session
    }

    /// Signs up and creates a key; returns (access token, key object with raw_key).
    pub async fn user_with_key(&self, email: &str) -> (String, Value) {
        let session = self.signup(email).await;
        let token = session["access_token"].as_str().unwrap().to_owned();
        let (status, key) = self.post_json("/v1/auth/keys", Some(&token), json!({ "name": "test" })).await;
        assert_eq!(status, 201, "create key: {key}");
        (token, key)
    }

    /// A chat completion request through mintoken with both keys.
    pub fn chat(&self, mintoken_key: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(mintoken_key)
            .header("x-provider-key", PROVIDER_KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// An Anthropic Messages request through mintoken, the key in `x-api-key` as the
    /// Anthropic SDK sends it.
    pub fn messages(&self, mintoken_key: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/v1/messages"))
            .header("x-api-key", mintoken_key)
            .header("x-provider-key", PROVIDER_KEY)
            .json(body)
    }

    pub async fn user_id(&self, email: &str) -> String {
        self.server.state.store.user_by_email(email).await.unwrap().expect("user exists").id
    }

    /// Usage rows of a user, newest first, after flushing the writer.
    pub async fn usage(&self, email: &str) -> Vec<mintoken::store::UsageSummaryRow> {
        self.server.state.usage.flush().await;
        let id = self.user_id(email).await;
        self.server.state.store.usage_of_user(&id, 1000).await.unwrap()
    }
}

/// Billing pointed at the mock's fake Razorpay with its default key pair.
pub fn billing_toml() -> String {
    format!(
        "[billing.razorpay]\nkey_id = \"{}\"\nkey_secret = \"{}\"\nbase_url = \"$MOCK_BASE_URL\"\n",
        mintoken_mock::RAZORPAY_KEY_ID,
        mintoken_mock::RAZORPAY_KEY_SECRET
    )
}

/// What Razorpay Checkout hands the browser after a payment: hex HMAC-SHA256 of
/// `order_id|payment_id` with the key secret. Computed here, not with mintoken's own
/// code, so a mistake there cannot cancel out.
pub fn razorpay_signature(key_secret: &str, order_id: &str, payment_id: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key_secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{order_id}|{payment_id}").as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn chat_body() -> Value {
    json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Say hello." }] })
}

/// Starts the real `mintoken serve --listen 127.0.0.1:0` on the embedded store, its stderr
/// in `log`, with what `configure` adds (upstreams, config file, data directory,
/// environment); returns the process and its base URL once it listens.
pub fn start_serve(
    log: &std::path::Path,
    configure: impl FnOnce(&mut std::process::Command),
) -> (std::process::Child, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mintoken"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("MINTOKEN_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    configure(&mut command);
    let mut child = command.spawn().expect("spawn mintoken serve");
    let base = wait_until_listening(&mut child, log);
    (child, base)
}

/// Waits up to 30 s for a spawned `mintoken serve --listen 127.0.0.1:0`, whose stderr
/// goes to `log`, to print its address; returns the base URL. Kills it if it never does.
pub fn wait_until_listening(child: &mut std::process::Child, log: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(rest) = text.split("mintoken listening on ").nth(1) {
            return rest.lines().next().unwrap_or_default().trim().to_owned();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not start:\n{text}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A store on a (stopped) test app's database, to count what it wrote.
pub async fn open_store(dir: &std::path::Path, db: Option<&TestDatabase>) -> mintoken::store::Store {
    let args = ServeArgs {
        store: StoreArgs {
            data_dir: Some(dir.join("data")),
            database_url: db.map(|db| db.url.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    mintoken::store::Store::open(&Config::load(&args).unwrap()).await.unwrap()
}
