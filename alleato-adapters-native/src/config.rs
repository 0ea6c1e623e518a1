//! The `alleato` server's configuration: `ALLEATO_*` environment variables and flags, and the
//! wiring of adapters, use cases and the router from it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alleato_core::auth::{Argon2Hasher, Argon2Params, AuthConfig};
use alleato_core::builder::{Ports, Services, Settings, Stores};
use alleato_core::cache::LayeredCache;
use alleato_core::limits::{Limits, UserLimits};
use alleato_core::llm::LanguageModel;
use alleato_core::memory::{MemoryCache, MemoryCounters};
use alleato_core::messages::{MessageConfig, QuotaConfig};
use alleato_core::models::{ModelCatalog, ModelSettings, deployment_models};
use alleato_core::ports::{Clock, KvCache, Rng};
use alleato_http::{AppState, ClientIpSource, HttpConfig, IpBlock, JwtCodec};
use clap::Parser;

use crate::llm::{OpenAiModel, TokioSleeper};
use crate::platform::{BlockingHasher, OsRng, SystemClock};
use crate::spawn::tokio_generations;
use crate::sqlite::{CachedSessions, SqliteCache, SqliteOptions, SqliteStore, SqliteStreamHub};

/// Alleato: the backend of an AI chat application.
///
/// Every flag can also be set by the environment variable shown. With no configuration at all,
/// the server listens on 127.0.0.1:8787, keeps its data under ./data and answers with the
/// built-in echo model.
#[derive(Clone, Parser)]
#[command(name = "alleato", version, about = "Alleato: the backend of an AI chat application.", long_about = None)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "ALLEATO_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,

    /// Directory of the SQLite database and the generated JWT secret.
    #[arg(long, env = "ALLEATO_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Secret that signs access tokens (at least 32 bytes). When unset, one is generated on
    /// first start and kept in `<data-dir>/jwt-secret`.
    #[arg(long, env = "ALLEATO_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Origins allowed by CORS, comma-separated (e.g. `https://app.example.com`), with
    /// credentials; `*` alone allows any origin, without credentials.
    #[arg(long, env = "ALLEATO_CORS_ORIGINS", value_delimiter = ',', default_value = "")]
    pub cors_origins: Vec<String>,

    /// Proxies whose `X-Forwarded-For` is believed, comma-separated addresses or CIDR blocks
    /// (e.g. `10.0.0.0/8,127.0.0.1`). Unset: the socket's peer is the client.
    #[arg(long, env = "ALLEATO_TRUSTED_PROXIES", value_delimiter = ',', default_value = "")]
    pub trusted_proxies: Vec<String>,

    /// Only Cloudflare reaches this server: the client is `CF-Connecting-IP`.
    #[arg(long, env = "ALLEATO_BEHIND_CLOUDFLARE", default_value_t = false, action = clap::ArgAction::Set)]
    pub behind_cloudflare: bool,

    /// Deployment environment reported by /health.
    #[arg(long, env = "ALLEATO_ENVIRONMENT", default_value = "development")]
    pub environment: String,

    /// Requests per minute per client IP on /api/*; 0 turns the limit off.
    #[arg(long, env = "ALLEATO_RATE_LIMIT_PER_MINUTE", default_value_t = 300)]
    pub rate_limit_per_minute: u64,

    /// Requests per minute per client IP on login, register and guest; 0 turns the limit off.
    #[arg(long, env = "ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE", default_value_t = 10)]
    pub auth_rate_limit_per_minute: u64,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "ALLEATO_ACCESS_TOKEN_TTL_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a session without a refresh, in seconds.
    #[arg(long, env = "ALLEATO_SESSION_TTL_SECS", default_value_t = 7 * 24 * 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub session_ttl_secs: u64,

    /// Seconds after a refresh during which the same refresh token gets the same successor
    /// (two tabs refreshing at once); reuse after that revokes the session. 0: every reuse does.
    #[arg(long, env = "ALLEATO_REFRESH_REUSE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub refresh_reuse_secs: u64,

    /// SQLite reader connections (one writer is always kept besides them).
    #[arg(long, env = "ALLEATO_SQLITE_READERS", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub sqlite_readers: u64,

    /// Delay before each token of the built-in echo model, in milliseconds (0 for benchmarks).
    #[arg(long, env = "ALLEATO_ECHO_DELAY_MS", default_value_t = 15)]
    pub echo_delay_ms: u64,

    /// Base URL of an OpenAI-compatible chat-completions API (OpenAI, Ollama, vLLM, llama.cpp,
    /// OpenRouter…), e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    #[arg(long, env = "ALLEATO_OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,

    /// API key of that provider, sent as a Bearer token.
    #[arg(long, env = "ALLEATO_OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,

    /// Model ids served by that provider, comma-separated; the first becomes the default model.
    #[arg(long, env = "ALLEATO_OPENAI_MODELS", value_delimiter = ',', default_value = "")]
    pub openai_models: Vec<String>,

    /// Seconds to wait for the provider to accept a connection.
    #[arg(long, env = "ALLEATO_OPENAI_CONNECT_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub openai_connect_timeout_secs: u64,

    /// Seconds without a byte from the provider before an answer is abandoned.
    #[arg(long, env = "ALLEATO_OPENAI_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub openai_idle_timeout_secs: u64,

    /// The model new chats use; by default the first OpenAI-compatible model, else `echo`.
    #[arg(long, env = "ALLEATO_DEFAULT_MODEL")]
    pub default_model: Option<String>,

    /// Messages a guest may send per UTC day.
    #[arg(long, env = "ALLEATO_GUEST_DAILY_MESSAGES", default_value_t = 20)]
    pub guest_daily_messages: u64,

    /// Messages a registered user may send per UTC day (an admin may set another limit per user).
    #[arg(long, env = "ALLEATO_REGULAR_DAILY_MESSAGES", default_value_t = 200)]
    pub regular_daily_messages: u64,

    /// Streams a guest may keep open at once.
    #[arg(long, env = "ALLEATO_GUEST_OPEN_STREAMS", default_value_t = 4)]
    pub guest_open_streams: u64,

    /// Streams a registered user may keep open at once.
    #[arg(long, env = "ALLEATO_REGULAR_OPEN_STREAMS", default_value_t = 32)]
    pub regular_open_streams: u64,

    /// Events one stream of a guest may hold.
    #[arg(long, env = "ALLEATO_GUEST_STREAM_EVENTS", default_value_t = 1000)]
    pub guest_events_per_stream: u64,

    /// Events one stream of a registered user may hold.
    #[arg(long, env = "ALLEATO_REGULAR_STREAM_EVENTS", default_value_t = 10000)]
    pub regular_events_per_stream: u64,

    /// Bytes of events one stream of a guest may hold.
    #[arg(long, env = "ALLEATO_GUEST_STREAM_BYTES", default_value_t = 1024 * 1024)]
    pub guest_bytes_per_stream: u64,

    /// Bytes of events one stream of a registered user may hold.
    #[arg(long, env = "ALLEATO_REGULAR_STREAM_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub regular_bytes_per_stream: u64,

    /// Bytes of events all the streams of a guest may hold (closed ones count until purged).
    #[arg(long, env = "ALLEATO_GUEST_TOTAL_STREAM_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub guest_stream_bytes: u64,

    /// Bytes of events all the streams of a registered user may hold (closed ones count until purged).
    #[arg(long, env = "ALLEATO_REGULAR_TOTAL_STREAM_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub regular_stream_bytes: u64,

    /// Chats a guest may have.
    #[arg(long, env = "ALLEATO_GUEST_CHATS", default_value_t = 100)]
    pub guest_chats: u64,

    /// Chats a registered user may have.
    #[arg(long, env = "ALLEATO_REGULAR_CHATS", default_value_t = 10000)]
    pub regular_chats: u64,

    /// Seconds an answer stays in the response cache; 0 turns the cache off.
    #[arg(long, env = "ALLEATO_RESPONSE_CACHE_TTL_SECS", default_value_t = 3600)]
    pub response_cache_ttl_secs: u64,

    /// Serve one user's cached answer to another user who sends the same conversation. Off by
    /// default: sharing tells users what others asked and were answered.
    #[arg(long, env = "ALLEATO_RESPONSE_CACHE_SHARED", default_value_t = false, action = clap::ArgAction::Set)]
    pub response_cache_shared: bool,

    /// How many of a chat's latest messages are sent to the model as context.
    #[arg(long, env = "ALLEATO_CONTEXT_MESSAGES", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub context_messages: u32,

    /// Seconds between `: ping` comments on idle SSE streams.
    #[arg(long, env = "ALLEATO_SSE_KEEP_ALIVE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub sse_keep_alive_secs: u64,

    /// Seconds a client may take to send a request's head; an idle keep-alive connection is
    /// closed after the same time.
    #[arg(long, env = "ALLEATO_HEAD_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub head_timeout_secs: u64,

    /// Seconds a request body may go without a byte before the request is abandoned.
    #[arg(long, env = "ALLEATO_BODY_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_secs: u64,

    /// Connections open at once; 0 for the `nofile` limit less 64.
    #[arg(long, env = "ALLEATO_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: u64,

    /// Connections open at once from one client address; 0 for no cap (the default, right
    /// behind a proxy, whose address every connection has).
    #[arg(long, env = "ALLEATO_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 0)]
    pub max_connections_per_address: u64,

    /// Seconds that running answers get to finish after SIGTERM or SIGINT; those still running
    /// then are saved as `error` with the text they had.
    #[arg(long, env = "ALLEATO_DRAIN_SECONDS", default_value_t = 30)]
    pub drain_seconds: u64,

    /// Log filter, in tracing's EnvFilter syntax (`info`, `alleato=debug,tower_http=warn`).
    #[arg(long, env = "ALLEATO_LOG", default_value = "info")]
    pub log: String,

    /// Log format: `text` or `json`.
    #[arg(long, env = "ALLEATO_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("cors_origins", &self.cors_origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("behind_cloudflare", &self.behind_cloudflare)
            .field("environment", &self.environment)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("auth_rate_limit_per_minute", &self.auth_rate_limit_per_minute)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("sqlite_readers", &self.sqlite_readers)
            .field("echo_delay_ms", &self.echo_delay_ms)
            .field("openai_base_url", &self.openai_base_url)
            .field("openai_api_key", &self.openai_api_key.as_ref().map(|_| "<redacted>"))
            .field("openai_models", &self.openai_models)
            .field("default_model", &self.default_model)
            .field("guest_daily_messages", &self.guest_daily_messages)
            .field("regular_daily_messages", &self.regular_daily_messages)
            .field("response_cache_ttl_secs", &self.response_cache_ttl_secs)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is invalid: the message names it.
    #[error("{0}")]
    Config(String),
    /// The listen address cannot be bound.
    #[error("ALLEATO_LISTEN: cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The data directory or a file in it could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(String),
}

impl StartError {
    /// The process's exit status for this error: 2 for settings (a bad value, or an address
    /// that cannot be listened on), 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) | Self::Listen { .. } => 2,
            Self::Io { .. } | Self::Database(_) => 1,
        }
    }
}

fn invalid(name: &str, why: impl std::fmt::Display) -> StartError {
    StartError::Config(format!("{name}: {why}"))
}

/// The CORS origins, checked: exact origins (`scheme://host[:port]`), or `*` alone.
fn cors_origins(config: &Config) -> Result<Vec<String>, StartError> {
    const NAME: &str = "ALLEATO_CORS_ORIGINS";
    let origins: Vec<String> = config
        .cors_origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.iter().any(|o| o == "*") {
        if origins.len() > 1 {
            return Err(invalid(NAME, "`*` (any origin) cannot be combined with other origins"));
        }
        return Ok(origins);
    }
    for o in &origins {
        let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
        let ok = rest.is_some_and(|host| {
            !host.is_empty()
                && !host.contains(['/', '?', '#', '*', ' '])
                && host.is_ascii()
                && !host.chars().any(|c| c.is_ascii_control())
        });
        if !ok {
            return Err(invalid(
                NAME,
                format!("{o:?} is not an origin like https://app.example.com (scheme and host, no path)"),
            ));
        }
    }
    Ok(origins)
}

/// Where rate limits read the client's address from.
fn client_ip_source(config: &Config) -> Result<ClientIpSource, StartError> {
    let blocks = config
        .trusted_proxies
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.parse::<IpBlock>().map_err(|e| invalid("ALLEATO_TRUSTED_PROXIES", e)))
        .collect::<Result<Vec<_>, _>>()?;
    match (config.behind_cloudflare, blocks.is_empty()) {
        (true, false) => Err(invalid(
            "ALLEATO_BEHIND_CLOUDFLARE",
            "set either it or ALLEATO_TRUSTED_PROXIES, not both",
        )),
        (true, true) => Ok(ClientIpSource::Cloudflare),
        (false, false) => Ok(ClientIpSource::TrustedProxies(blocks)),
        (false, true) => Ok(ClientIpSource::Socket),
    }
}

/// Checks every setting without touching the disk or the network, so that a bad one stops the
/// server before it creates anything.
///
/// # Errors
/// `StartError::Config` naming the first bad setting.
pub fn validate(config: &Config) -> Result<(), StartError> {
    tracing_subscriber::EnvFilter::try_new(&config.log).map_err(|e| invalid("ALLEATO_LOG", e))?;
    cors_origins(config)?;
    client_ip_source(config)?;
    if let Some(secret) = &config.jwt_secret {
        JwtCodec::new(secret.as_bytes()).map_err(|e| invalid("ALLEATO_JWT_SECRET", e))?;
    }
    models(config)?;
    Ok(())
}

/// The JWT secret: configured, or read from (or generated into) `<data_dir>/jwt-secret`.
fn jwt_secret(config: &Config, rng: &dyn Rng) -> Result<Vec<u8>, StartError> {
    if let Some(s) = &config.jwt_secret {
        return Ok(s.as_bytes().to_vec());
    }
    let path = config.data_dir.join("jwt-secret");
    let io = |source| StartError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(s) => return Ok(s.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut raw = [0u8; 48];
    rng.fill(&mut raw);
    let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret).map_err(io)?;
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

/// Everything a running server holds.
pub struct Wired {
    /// The router's state.
    pub state: AppState,
    /// The in-process front of the response cache, purged periodically.
    pub cache: Arc<MemoryCache>,
    /// The durable back of the cache, in the database, purged periodically.
    pub durable_cache: Arc<SqliteCache>,
    /// The in-process counters, purged periodically.
    pub counters: Arc<MemoryCounters>,
    /// The stream hub, whose closed logs are purged periodically.
    pub hub: Arc<SqliteStreamHub>,
    /// The database, whose ended sessions are purged periodically.
    pub store: Arc<SqliteStore>,
}

/// Opens the data directory and database and wires the use cases.
///
/// # Errors
/// When the data directory, the secret or the database cannot be used.
pub async fn wire(config: &Config) -> Result<Wired, StartError> {
    validate(config)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
        path: config.data_dir.clone(),
        source,
    })?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rng: Arc<dyn Rng> = Arc::new(OsRng);
    let secret = jwt_secret(config, &*rng)?;
    let tokens = Arc::new(JwtCodec::new(&secret).map_err(|e| invalid("ALLEATO_JWT_SECRET", e))?);

    let db_path = config.data_dir.join("alleato.db");
    let readers = usize::try_from(config.sqlite_readers).unwrap_or(4);
    let store = Arc::new(
        SqliteStore::open_with(&db_path, SqliteOptions::new().with_readers(readers))
            .await
            .map_err(|e| StartError::Database(format!("{}: {e}", db_path.display())))?,
    );
    // Cached responses: read from memory, kept in the database so that a restart keeps them.
    // This process is the only writer of the database's cache. Sessions are not cached: they
    // live in the database's `sessions` table, exact.
    let front_cache = Arc::new(MemoryCache::new(clock.clone()));
    let durable_cache = Arc::new(SqliteCache::new(&store, clock.clone()));
    let cache: Arc<dyn KvCache> = Arc::new(LayeredCache::new(front_cache.clone(), durable_cache.clone()));
    let counters = Arc::new(MemoryCounters::new(clock.clone()));
    let hasher = Arc::new(BlockingHasher::new(Argon2Hasher::new(
        Argon2Params::RECOMMENDED,
        rng.clone(),
    )));
    let (catalog, model) = models(config)?;
    let hub = Arc::new(SqliteStreamHub::new(&store, clock.clone()));
    // Every authenticated request reads its session: from memory, since this process alone
    // writes the database (measured: about a tenth more list requests a second).
    let sessions = Arc::new(CachedSessions::new(store.clone()));
    let ports = Ports {
        stores: Stores {
            sessions,
            ..Stores::all(store.clone())
        },
        hub: hub.clone(),
        generations: Arc::new(tokio_generations()),
        model,
        response_cache: cache,
        counters: counters.clone(),
        hasher,
        tokens,
        clock,
        rng,
        sleeper: Arc::new(TokioSleeper),
    };
    let settings = Settings {
        auth: AuthConfig {
            access_ttl: Duration::from_secs(config.access_token_ttl_secs),
            session_ttl: Duration::from_secs(config.session_ttl_secs),
            refresh_reuse_interval: Duration::from_secs(config.refresh_reuse_secs),
        },
        messages: MessageConfig {
            context_messages: config.context_messages,
            response_cache_ttl: Duration::from_secs(config.response_cache_ttl_secs),
            response_cache_shared: config.response_cache_shared,
        },
        quotas: QuotaConfig {
            guest_daily_messages: config.guest_daily_messages,
            regular_daily_messages: config.regular_daily_messages,
        },
        limits: limits(config),
    };
    let services = Services::build(ports, catalog, settings);
    let recovered = services
        .messages
        .recover_interrupted()
        .await
        .map_err(|e| StartError::Database(format!("recovering interrupted answers: {e}")))?;
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "answers interrupted by the previous shutdown were marked as failed"
        );
    }
    let http = HttpConfig {
        cors_origins: cors_origins(config)?,
        rate_limit_per_minute: config.rate_limit_per_minute,
        auth_rate_limit_per_minute: config.auth_rate_limit_per_minute,
        environment: config.environment.clone(),
        runtime: "native",
        version: env!("CARGO_PKG_VERSION").to_owned(),
        sse_keep_alive_secs: config.sse_keep_alive_secs,
        client_ip: client_ip_source(config)?,
    };
    let state = AppState::new(services, http);
    Ok(Wired {
        state,
        cache: front_cache,
        durable_cache,
        counters,
        hub,
        store,
    })
}

/// The per-user caps.
fn limits(config: &Config) -> Limits {
    Limits {
        guest: UserLimits {
            open_streams: config.guest_open_streams,
            events_per_stream: config.guest_events_per_stream,
            bytes_per_stream: config.guest_bytes_per_stream,
            stream_bytes: config.guest_stream_bytes,
            chats: config.guest_chats,
        },
        regular: UserLimits {
            open_streams: config.regular_open_streams,
            events_per_stream: config.regular_events_per_stream,
            bytes_per_stream: config.regular_bytes_per_stream,
            stream_bytes: config.regular_stream_bytes,
            chats: config.regular_chats,
        },
    }
}

/// The model catalog and the adapters behind it: `echo` always, plus the OpenAI-compatible
/// models (over reqwest) when a provider is configured.
fn models(config: &Config) -> Result<(ModelCatalog, Arc<dyn LanguageModel>), StartError> {
    let settings = ModelSettings {
        openai_base_url: config.openai_base_url.clone(),
        openai_api_key: config.openai_api_key.clone(),
        openai_models: config.openai_models.clone(),
        openai_connect_timeout: Duration::from_secs(config.openai_connect_timeout_secs),
        openai_idle_timeout: Duration::from_secs(config.openai_idle_timeout_secs),
        default_model: config.default_model.clone(),
        echo_delay: Duration::from_millis(config.echo_delay_ms),
    };
    deployment_models(&settings, Arc::new(TokioSleeper), |openai| {
        Ok(Arc::new(OpenAiModel::new(openai)?) as Arc<dyn LanguageModel>)
    })
    .map_err(|e| invalid(e.setting, e.why))
}
