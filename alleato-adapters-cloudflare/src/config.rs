//! The Worker's settings, from its vars and secrets: the same `ALLEATO_*` names and defaults as
//! the native server (`alleato-adapters-native/src/config.rs`), less those that only make sense
//! there (listen address, data directory, SQLite readers, log format) and plus those only the
//! Worker has (Argon2 costs, the stream poll interval).

use std::fmt;
use std::time::Duration;

use alleato_core::auth::Argon2Params;
use alleato_core::limits::{Limits, UserLimits};
use alleato_core::models::ModelSettings;

/// A setting that is missing or invalid: the Worker answers every request with a problem
/// response naming it (never its value, which may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {why}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub why: String,
}

/// Every setting of the Worker.
#[derive(Clone)]
pub struct Config {
    /// Signs access tokens (at least 32 bytes). Required: a Worker has no disk to keep a
    /// generated one on (`./scripts/worker` generates one for local runs).
    pub jwt_secret: String,
    /// Origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// Reported by `/health`.
    pub environment: String,
    /// Requests per minute per client IP on `/api/*`.
    pub rate_limit_per_minute: u64,
    /// Requests per minute per client IP on login, register and guest.
    pub auth_rate_limit_per_minute: u64,
    /// Lifetime of access tokens, in seconds.
    pub access_token_ttl_secs: u64,
    /// Lifetime of a session without a refresh, in seconds.
    pub session_ttl_secs: u64,
    /// Seconds during which a spent refresh token still gets its successor.
    pub refresh_reuse_secs: u64,
    /// The models: the echo model's delay, an OpenAI-compatible provider, the default model.
    pub models: ModelSettings,
    /// Messages a guest may send per UTC day.
    pub guest_daily_messages: u64,
    /// Messages a registered user may send per UTC day.
    pub regular_daily_messages: u64,
    /// Seconds an answer stays in the response cache; 0 turns it off.
    pub response_cache_ttl_secs: u64,
    /// Whether cached answers are shared across users (off: keyed per user).
    pub response_cache_shared: bool,
    /// How many of a chat's latest messages are the model's context (1 to 100).
    pub context_messages: u32,
    /// Seconds between `: ping` comments on idle SSE streams.
    pub sse_keep_alive_secs: u64,
    /// Argon2id costs of new password hashes (existing hashes verify with their own).
    pub argon2: Argon2Params,
    /// How often a stream follower reads D1 when nothing new has come, in milliseconds.
    pub stream_poll_ms: u64,
    /// Per-user caps on streams and chats (`ALLEATO_GUEST_*` and `ALLEATO_REGULAR_*`).
    pub limits: Limits,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("jwt_secret", &"<redacted>")
            .field("cors_origins", &self.cors_origins)
            .field("environment", &self.environment)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("auth_rate_limit_per_minute", &self.auth_rate_limit_per_minute)
            .field("models", &self.models)
            .field("argon2", &self.argon2)
            .finish_non_exhaustive()
    }
}

/// Reads the settings through `var`, which returns a variable's text when it is set.
struct Reader<F> {
    var: F,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    /// The trimmed text, `None` when unset or blank.
    fn text(&self, name: &'static str) -> Option<String> {
        (self.var)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn number<T>(&self, name: &'static str, default: T, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
        T::Err: fmt::Display,
    {
        let Some(text) = self.text(name) else {
            return Ok(default);
        };
        let n: T = text.parse().map_err(|e: T::Err| ConfigError {
            name,
            why: format!("not a number ({e})"),
        })?;
        if !range.contains(&n) {
            return Err(ConfigError {
                name,
                why: format!("must be between {} and {}", range.start(), range.end()),
            });
        }
        Ok(n)
    }

    /// `true` or `false` (also `1`/`0`); unset is `false`.
    fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.text(name).map(|t| t.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(_) => Err(ConfigError {
                name,
                why: "must be `true` or `false`".to_owned(),
            }),
        }
    }

    /// The caps of one kind of user: `ALLEATO_{kind}_OPEN_STREAMS` and the rest, as the native
    /// server names them.
    fn user_limits(&self, kind: &'static str, default: UserLimits) -> Result<UserLimits, ConfigError> {
        let any = 0..=u64::MAX;
        let name = |what: &str| -> &'static str {
            match (kind, what) {
                ("GUEST", "OPEN_STREAMS") => "ALLEATO_GUEST_OPEN_STREAMS",
                ("GUEST", "STREAM_EVENTS") => "ALLEATO_GUEST_STREAM_EVENTS",
                ("GUEST", "STREAM_BYTES") => "ALLEATO_GUEST_STREAM_BYTES",
                ("GUEST", "TOTAL_STREAM_BYTES") => "ALLEATO_GUEST_TOTAL_STREAM_BYTES",
                ("GUEST", _) => "ALLEATO_GUEST_CHATS",
                (_, "OPEN_STREAMS") => "ALLEATO_REGULAR_OPEN_STREAMS",
                (_, "STREAM_EVENTS") => "ALLEATO_REGULAR_STREAM_EVENTS",
                (_, "STREAM_BYTES") => "ALLEATO_REGULAR_STREAM_BYTES",
                (_, "TOTAL_STREAM_BYTES") => "ALLEATO_REGULAR_TOTAL_STREAM_BYTES",
                _ => "ALLEATO_REGULAR_CHATS",
            }
        };
        Ok(UserLimits {
            open_streams: self.number(name("OPEN_STREAMS"), default.open_streams, any.clone())?,
            events_per_stream: self.number(name("STREAM_EVENTS"), default.events_per_stream, any.clone())?,
            bytes_per_stream: self.number(name("STREAM_BYTES"), default.bytes_per_stream, any.clone())?,
            stream_bytes: self.number(name("TOTAL_STREAM_BYTES"), default.stream_bytes, any.clone())?,
            chats: self.number(name("CHATS"), default.chats, any)?,
        })
    }

    fn list(&self, name: &'static str) -> Vec<String> {
        self.text(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Config {
    /// The settings, read through `var` (a Worker var or secret by name).
    ///
    /// # Errors
    /// The first setting that is missing (the JWT secret) or invalid.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let r = Reader { var };
        const ANY: std::ops::RangeInclusive<u64> = 0..=u64::MAX;
        const POSITIVE: std::ops::RangeInclusive<u64> = 1..=u64::MAX;
        let jwt_secret = r.text("ALLEATO_JWT_SECRET").ok_or(ConfigError {
            name: "ALLEATO_JWT_SECRET",
            why: "must be set (a secret of at least 32 bytes)".to_owned(),
        })?;
        if jwt_secret.len() < 32 {
            return Err(ConfigError {
                name: "ALLEATO_JWT_SECRET",
                why: "must be at least 32 bytes".to_owned(),
            });
        }
        let argon2 = Argon2Params {
            memory_kib: r.number(
                "ALLEATO_ARGON2_MEMORY_KIB",
                Argon2Params::RECOMMENDED.memory_kib,
                8..=1024 * 1024,
            )?,
            iterations: r.number(
                "ALLEATO_ARGON2_ITERATIONS",
                Argon2Params::RECOMMENDED.iterations,
                1..=16,
            )?,
            parallelism: 1,
        };
        Ok(Self {
            jwt_secret,
            cors_origins: r.list("ALLEATO_CORS_ORIGINS"),
            environment: r
                .text("ALLEATO_ENVIRONMENT")
                .unwrap_or_else(|| "development".to_owned()),
            rate_limit_per_minute: r.number("ALLEATO_RATE_LIMIT_PER_MINUTE", 300, ANY)?,
            auth_rate_limit_per_minute: r.number("ALLEATO_AUTH_RATE_LIMIT_PER_MINUTE", 10, ANY)?,
            access_token_ttl_secs: r.number("ALLEATO_ACCESS_TOKEN_TTL_SECS", 900, POSITIVE)?,
            session_ttl_secs: r.number("ALLEATO_SESSION_TTL_SECS", 7 * 24 * 3600, POSITIVE)?,
            refresh_reuse_secs: r.number("ALLEATO_REFRESH_REUSE_SECS", 10, 0..=300)?,
            models: ModelSettings {
                echo_delay: Duration::from_millis(r.number("ALLEATO_ECHO_DELAY_MS", 15, ANY)?),
                openai_base_url: r.text("ALLEATO_OPENAI_BASE_URL"),
                openai_api_key: r.text("ALLEATO_OPENAI_API_KEY"),
                openai_models: r.list("ALLEATO_OPENAI_MODELS"),
                openai_connect_timeout: Duration::from_secs(r.number(
                    "ALLEATO_OPENAI_CONNECT_TIMEOUT_SECS",
                    10,
                    POSITIVE,
                )?),
                openai_idle_timeout: Duration::from_secs(r.number("ALLEATO_OPENAI_IDLE_TIMEOUT_SECS", 60, POSITIVE)?),
                default_model: r.text("ALLEATO_DEFAULT_MODEL"),
            },
            guest_daily_messages: r.number("ALLEATO_GUEST_DAILY_MESSAGES", 20, ANY)?,
            regular_daily_messages: r.number("ALLEATO_REGULAR_DAILY_MESSAGES", 200, ANY)?,
            response_cache_ttl_secs: r.number("ALLEATO_RESPONSE_CACHE_TTL_SECS", 3600, ANY)?,
            response_cache_shared: r.flag("ALLEATO_RESPONSE_CACHE_SHARED")?,
            context_messages: r.number("ALLEATO_CONTEXT_MESSAGES", 100, 1..=100)?,
            sse_keep_alive_secs: r.number("ALLEATO_SSE_KEEP_ALIVE_SECS", 15, POSITIVE)?,
            argon2,
            stream_poll_ms: r.number("ALLEATO_STREAM_POLL_MS", 100, 1..=10_000)?,
            limits: Limits {
                guest: r.user_limits("GUEST", UserLimits::GUEST)?,
                regular: r.user_limits("REGULAR", UserLimits::REGULAR)?,
            },
        })
    }

    /// The settings of a Worker: each name read as a var, else as a secret.
    ///
    /// # Errors
    /// As [`from_vars`](Self::from_vars).
    pub fn from_env(env: &worker::Env) -> Result<Self, ConfigError> {
        Self::from_vars(|name| {
            env.var(name)
                .map(|v| v.to_string())
                .or_else(|_| env.secret(name).map(|s| s.to_string()))
                .ok()
        })
    }
}
