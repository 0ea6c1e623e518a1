//! The HTTP client the tests speak through, and helpers for the usual first steps.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::server::{self, Capabilities, Capability, OwnServer};

/// The password every registered test user gets (comfortably inside 8–128 characters).
pub const PASSWORD: &str = "correct horse battery staple";

/// A client for one server under test. Cheap to make: make one per test, because each
/// `#[tokio::test]` has its own runtime and connections must not outlive it.
#[derive(Clone)]
pub struct Api {
    base_url: String,
    capabilities: Capabilities,
    http: reqwest::Client,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("base_url", &self.base_url)
            .field("capabilities", &self.capabilities)
            .finish()
    }
}

/// A registered (or guest) user with its tokens.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// `user.id`.
    pub id: String,
    /// The normalised email; empty for a guest.
    pub email: String,
    /// The password registered with; empty for a guest.
    pub password: String,
    /// The access token (JWT).
    pub access: String,
    /// The refresh token.
    pub refresh: String,
}

impl Api {
    /// A client for the shared server of this test binary (started on first use).
    pub fn shared() -> Self {
        let (base_url, capabilities) = server::shared();
        Self::new(base_url, capabilities)
    }

    pub(crate) fn new(base_url: String, capabilities: Capabilities) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("building the HTTP client");
        Self {
            base_url,
            capabilities,
            http,
        }
    }

    /// What the target allows.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// A server of the test's own, started with `env` on top of the usual test settings, or
    /// `None` (with a printed note) when the target cannot start servers.
    pub fn own_server(&self, test: &str, env: &[(&str, &str)]) -> Option<OwnServer> {
        if self.capabilities.own_servers {
            Some(OwnServer::start(env))
        } else {
            server::record_gate(test, self.capabilities.runtime, "own-servers (ALLEATO_BASE_URL)");
            None
        }
    }

    /// Runs the native binary with only `env` as its settings and reports how it ended, or
    /// `None` (with the gate recorded) when the runtime under test is not the native binary or
    /// the suite may not start processes.
    pub fn run_binary(&self, test: &str, env: &[(&str, &str)]) -> Option<server::BinaryRun> {
        if !self.supports(Capability::NativeProcess, test) {
            return None;
        }
        if !self.capabilities.own_servers {
            server::record_gate(test, self.capabilities.runtime, "own-servers (ALLEATO_BASE_URL)");
            return None;
        }
        Some(server::run_binary(env).unwrap_or_else(|e| panic!("{e}")))
    }

    /// The server's token secret, or `None` (with the gate recorded) when it is not known.
    pub fn jwt_secret(&self, test: &str) -> Option<&str> {
        let secret = self.capabilities.jwt_secret.as_deref();
        if secret.is_none() {
            server::record_gate(test, self.capabilities.runtime, "jwt-secret (ALLEATO_TEST_JWT_SECRET)");
        }
        secret
    }

    /// Whether the runtime under test has `capability`; when it has not, the gate is recorded
    /// (printed, and counted by the runner) and the test returns without its checks.
    pub fn supports(&self, capability: Capability, test: &str) -> bool {
        let runtime = self.capabilities.runtime;
        if runtime.lacks().contains(&capability) {
            server::record_gate(test, runtime, capability.name());
            false
        } else {
            true
        }
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request to `path`, e.g. `/api/v1/chats`.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// `PATCH path`.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// A unique address at example.com.
    pub fn unique_email() -> String {
        format!("user-{}@example.com", uuid::Uuid::new_v4())
    }

    /// `POST /api/v1/auth/register` with `body`, as is.
    pub async fn register_with(&self, body: Value) -> Resp {
        self.post("/api/v1/auth/register").json(&body).fetch().await
    }

    /// Registers a new user with a unique email and [`PASSWORD`].
    pub async fn register(&self) -> TestUser {
        let email = Self::unique_email();
        let body = self
            .register_with(json!({"email": email, "password": PASSWORD}))
            .await
            .expect(201);
        test_user(&body, email, PASSWORD.to_owned())
    }

    /// `POST /api/v1/auth/login`, expecting success.
    pub async fn login(&self, email: &str, password: &str) -> TestUser {
        let body = self
            .post("/api/v1/auth/login")
            .json(&json!({"email": email, "password": password}))
            .fetch()
            .await
            .expect(200);
        test_user(&body, email.to_owned(), password.to_owned())
    }

    /// A new guest.
    pub async fn guest(&self) -> TestUser {
        let body = self.post("/api/v1/auth/guest").fetch().await.expect(201);
        test_user(&body, String::new(), String::new())
    }

    /// `POST /api/v1/auth/refresh` with `refresh_token`, as is.
    pub async fn refresh(&self, refresh_token: &str) -> Resp {
        self.post("/api/v1/auth/refresh")
            .json(&json!({"refreshToken": refresh_token}))
            .fetch()
            .await
    }

    /// `GET /api/v1/auth/me` with `access_token`.
    pub async fn me(&self, access_token: &str) -> Resp {
        self.get("/api/v1/auth/me").bearer_auth(access_token).fetch().await
    }

    /// Creates a chat for `user` with `body`, expecting `201`; returns the `chat` object.
    pub async fn create_chat(&self, user: &TestUser, body: Value) -> Value {
        let resp = self
            .post("/api/v1/chats")
            .bearer_auth(&user.access)
            .json(&body)
            .fetch()
            .await;
        resp.expect(201)["chat"].clone()
    }

    /// Creates a chat titled `title` for `user`; returns the `chat` object.
    pub async fn create_chat_titled(&self, user: &TestUser, title: &str) -> Value {
        self.create_chat(user, json!({"title": title})).await
    }

    /// `GET /api/v1/chats` as `user` with `query` (e.g. `[("limit", "3")]`).
    pub async fn list_chats(&self, user: &TestUser, query: &[(&str, &str)]) -> Resp {
        self.get("/api/v1/chats")
            .bearer_auth(&user.access)
            .query(query)
            .fetch()
            .await
    }

    /// `GET /api/v1/public/models`.
    pub async fn models(&self) -> Vec<Value> {
        let body = self.get("/api/v1/public/models").fetch().await.expect(200);
        body["models"].as_array().expect("`models` is an array").clone()
    }

    /// The id of the one model marked `default`.
    pub async fn default_model(&self) -> String {
        let models = self.models().await;
        let default = models.iter().find(|m| m["default"] == true).expect("a default model");
        default["id"].as_str().expect("model id is a string").to_owned()
    }
}

fn test_user(body: &Value, email: String, password: String) -> TestUser {
    let field = |v: &Value, name: &str| -> String {
        v.as_str()
            .unwrap_or_else(|| panic!("`{name}` is not a string in {body}"))
            .to_owned()
    };
    TestUser {
        id: field(&body["user"]["id"], "user.id"),
        email: body["user"]["email"].as_str().map_or(email, str::to_owned),
        password,
        access: field(&body["accessToken"], "accessToken"),
        refresh: field(&body["refreshToken"], "refreshToken"),
    }
}

/// A whole response, read eagerly so that assertions can look at it more than once.
pub struct Resp {
    /// The request line, for messages.
    pub request: String,
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl fmt::Debug for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} {:?} {}",
            self.request,
            self.status,
            self.headers,
            self.text()
        )
    }
}

impl Resp {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }

    /// Asserts the status, then returns the body as JSON.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status: {self:?}");
        self.json()
    }
}

/// Sends a request and reads the whole response.
pub trait Fetch {
    /// Sends the request; panics when no response arrives.
    fn fetch(self) -> impl Future<Output = Resp> + Send;
}

impl Fetch for RequestBuilder {
    async fn fetch(self) -> Resp {
        let (client, request) = self.build_split();
        let request = request.expect("a well-formed request");
        let line = format!("{} {}", request.method(), request.url());
        let response = client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{line}: no response: {e:?}"));
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{line}: reading the body: {e:?}"))
            .to_vec();
        Resp {
            request: line,
            status,
            headers,
            body,
        }
    }
}
