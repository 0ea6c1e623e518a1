//! What every handler can reach.

use std::sync::Arc;

use alleato_core::auth::AuthService;
use alleato_core::chats::ChatService;
use alleato_core::llm::Sleeper;
use alleato_core::messages::MessageService;
use alleato_core::models::ModelCatalog;
use alleato_core::ports::{Clock, Counters, Rng};
use alleato_core::streams::StreamService;

/// Settings of the HTTP shell itself.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Origins allowed by CORS (exact matches, e.g. `https://app.example.com`).
    pub cors_origins: Vec<String>,
    /// Requests per minute per client IP on `/api/*`.
    pub rate_limit_per_minute: u64,
    /// Requests per minute per client IP on login, register and guest.
    pub auth_rate_limit_per_minute: u64,
    /// `development`, `production`… shown by `/health`.
    pub environment: String,
    /// `native` or `cloudflare`, shown by `/health`.
    pub runtime: &'static str,
    /// The server's version, shown by `/health`.
    pub version: String,
    /// Seconds between `: ping` comments on idle SSE streams.
    pub sse_keep_alive_secs: u64,
    /// Where the client's address comes from when the runtime gives none (rate limits).
    pub client_ip: crate::client_ip::ClientIpSource,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            rate_limit_per_minute: 300,
            auth_rate_limit_per_minute: 10,
            environment: "development".to_owned(),
            runtime: "native",
            version: env!("CARGO_PKG_VERSION").to_owned(),
            sse_keep_alive_secs: 15,
            client_ip: crate::client_ip::ClientIpSource::Socket,
        }
    }
}

/// The shared state of the router: the use cases and the ports the shell itself needs.
#[derive(Clone)]
pub struct AppState {
    /// Accounts and sessions.
    pub auth: Arc<AuthService>,
    /// Chats.
    pub chats: Arc<ChatService>,
    /// Messages and generations.
    pub messages: Arc<MessageService>,
    /// Client-owned streams.
    pub streams: Arc<StreamService>,
    /// The models on offer.
    pub catalog: Arc<ModelCatalog>,
    /// Rate-limit counters.
    pub counters: Arc<dyn Counters>,
    /// The time (rate-limit windows).
    pub clock: Arc<dyn Clock>,
    /// Randomness (request ids).
    pub rng: Arc<dyn Rng>,
    /// The runtime's timer (pings on idle event streams).
    pub sleeper: Arc<dyn Sleeper>,
    /// Shell settings.
    pub config: Arc<HttpConfig>,
    /// Set when the server shuts down: every event stream being served ends at once with a
    /// comment and `data: [DONE]`, so that its client resumes elsewhere.
    pub shutdown: alleato_core::signal::Signal,
}

impl AppState {
    /// The keep-alive of this server's event streams.
    pub fn keep_alive(&self) -> crate::sse::KeepAlive {
        crate::sse::KeepAlive {
            sleeper: self.sleeper.clone(),
            interval: std::time::Duration::from_secs(self.config.sse_keep_alive_secs.max(1)),
            shutdown: self.shutdown.clone(),
        }
    }
}

impl AppState {
    /// The state of a router over the wired use cases, with the shell's settings.
    pub fn new(services: alleato_core::builder::Services, config: HttpConfig) -> Self {
        let alleato_core::builder::Services {
            auth,
            chats,
            messages,
            streams,
            catalog,
            counters,
            clock,
            rng,
            sleeper,
        } = services;
        Self {
            auth,
            chats,
            messages,
            streams,
            catalog,
            counters,
            clock,
            rng,
            sleeper,
            config: Arc::new(config),
            shutdown: alleato_core::signal::Signal::new(),
        }
    }
}
