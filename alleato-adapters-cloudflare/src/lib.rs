#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// The whole crate is a Worker: on other targets it is empty (see Cargo.toml).
#![cfg(target_arch = "wasm32")]

pub mod config;
#[cfg(feature = "contract-suites")]
pub mod contract;
pub mod d1;
pub mod durable;
pub mod kv;
pub mod llm;
pub mod platform;
pub mod send;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use alleato_core::auth::{Argon2Hasher, AuthConfig};
use alleato_core::builder::{Ports, Services, Settings, Stores};
use alleato_core::llm::LanguageModel;
use alleato_core::messages::{MessageConfig, QuotaConfig};
use alleato_core::models::{ModelCatalog, deployment_models};
use alleato_core::ports::{Clock, Rng};
use alleato_http::{ApiError, AppState, ClientIp, HttpConfig, JwtCodec};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tower::ServiceExt;
use worker::{Context, Env, HttpRequest, event};

pub use durable::AlleatoCounter;

use crate::config::{Config, ConfigError};
use crate::d1::{D1Generations, D1Store, D1StreamHub};
use crate::durable::DurableCounters;
use crate::kv::WorkersKvCache;
use crate::llm::{DelaySleeper, FetchOpenAiModel};
use crate::platform::{CryptoRng, WorkerClock};

/// The D1 database binding (`wrangler.toml`).
pub const D1_BINDING: &str = "DB";
/// The Workers KV binding of the response cache.
pub const KV_BINDING: &str = "CACHE";
/// The Durable Object namespace of the counters.
pub const COUNTERS_BINDING: &str = "COUNTERS";

/// Why the Worker cannot serve: a setting or a binding is wrong.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A setting is missing or invalid.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// A binding of `wrangler.toml` is missing.
    #[error("binding {name}: {why}")]
    Binding {
        /// The binding's name.
        name: &'static str,
        /// What the runtime said.
        why: String,
    },
}

fn binding<T>(name: &'static str, found: worker::Result<T>) -> Result<T, WireError> {
    found.map_err(|e| WireError::Binding {
        name,
        why: e.to_string(),
    })
}

/// Builds the router's state for one request: the adapters on this request's bindings, and
/// generations that run in its `Context`'s `waitUntil`.
///
/// # Errors
/// When a setting or a binding is wrong.
pub fn wire(env: &Env, ctx: Arc<Context>) -> Result<AppState, WireError> {
    let config = Config::from_env(env)?;
    let clock: Arc<dyn Clock> = Arc::new(WorkerClock);
    let rng: Arc<dyn Rng> = Arc::new(CryptoRng);
    let tokens = Arc::new(JwtCodec::new(config.jwt_secret.as_bytes()).map_err(|why| {
        WireError::Config(ConfigError {
            name: "ALLEATO_JWT_SECRET",
            why,
        })
    })?);
    let store = Arc::new(D1Store::new(binding(D1_BINDING, env.d1(D1_BINDING))?));
    let response_cache = Arc::new(WorkersKvCache::new(binding(KV_BINDING, env.kv(KV_BINDING))?));
    let counters = Arc::new(DurableCounters::new(
        binding(COUNTERS_BINDING, env.durable_object(COUNTERS_BINDING))?,
        clock.clone(),
    ));
    let hub = Arc::new(
        D1StreamHub::new(&store, clock.clone()).with_poll_interval(Duration::from_millis(config.stream_poll_ms)),
    );
    // Hashing runs in the isolate (there are no other threads); its cost is a setting.
    let hasher = Arc::new(Argon2Hasher::new(config.argon2, rng.clone()));
    let (catalog, model) = models(&config)?;
    let ports = Ports {
        // Sessions must be exact (a logout or a reused refresh token holds at once on every
        // isolate): D1, never KV.
        stores: Stores::all(store.clone()),
        hub,
        generations: Arc::new(D1Generations::new((*store).clone(), clock.clone(), ctx)),
        model,
        response_cache,
        counters,
        hasher,
        tokens,
        clock,
        rng,
        sleeper: Arc::new(DelaySleeper),
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
        limits: config.limits,
    };
    let services = Services::build(ports, catalog, settings);
    let http = HttpConfig {
        cors_origins: config.cors_origins.clone(),
        rate_limit_per_minute: config.rate_limit_per_minute,
        auth_rate_limit_per_minute: config.auth_rate_limit_per_minute,
        environment: config.environment.clone(),
        runtime: "cloudflare",
        version: env!("CARGO_PKG_VERSION").to_owned(),
        sse_keep_alive_secs: config.sse_keep_alive_secs,
        // The Worker gives every request its `ClientIp` from `CF-Connecting-IP` itself.
        client_ip: alleato_http::ClientIpSource::Socket,
    };
    Ok(AppState::new(services, http))
}

/// The model catalog and the adapters behind it: `echo` always, plus the OpenAI-compatible
/// models (over `fetch`) when a provider is configured.
fn models(config: &Config) -> Result<(ModelCatalog, Arc<dyn LanguageModel>), WireError> {
    deployment_models(&config.models, Arc::new(DelaySleeper), |openai| {
        Ok(Arc::new(FetchOpenAiModel::new(openai)?) as Arc<dyn LanguageModel>)
    })
    .map_err(|e| {
        WireError::Config(ConfigError {
            name: e.setting,
            why: e.why,
        })
    })
}

/// The client's address as Cloudflare saw it.
fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.headers()
        .get("cf-connecting-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The request with its whole body read, or the problem to answer: a body over the API's limit
/// is `413`, as on the native server.
///
/// Read before routing, always to its end: in workerd, a request body left unread when the
/// response is sent (a `401` to a `POST` with a body, say) is read later by the runtime and
/// fails as an uncaught exception, which in `wrangler dev` restarts the Worker under every other
/// request in flight. The API takes JSON bodies of at most [`JSON_LIMIT`](alleato_http::extract::JSON_LIMIT).
async fn read_body(req: HttpRequest) -> Result<axum::extract::Request, axum::response::Response> {
    use http_body_util::BodyExt as _;

    let limit = alleato_http::extract::JSON_LIMIT;
    let (parts, mut body) = req.into_parts();
    let mut bytes = Vec::new();
    let mut too_large = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::bad_request("the request body could not be read").into_response());
        };
        if let Ok(data) = frame.into_data() {
            // Past the limit the rest is read and dropped, so that nothing is left unread.
            too_large |= bytes.len() + data.len() > limit;
            if !too_large {
                bytes.extend_from_slice(&data);
            }
        }
    }
    if too_large {
        return Err(ApiError::payload_too_large(limit).into_response());
    }
    Ok(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Serves `alleato_http::router` for one request.
#[event(fetch)]
async fn fetch(req: HttpRequest, env: Env, ctx: Context) -> worker::Result<axum::response::Response> {
    let ctx = Arc::new(ctx);
    #[cfg(feature = "contract-suites")]
    if let Some(res) = contract::route(&req, &env, &ctx).await {
        return Ok(res);
    }
    let state = match wire(&env, ctx) {
        Ok(state) => state,
        Err(e) => {
            worker::console_error!("alleato cannot serve: {e}");
            let problem = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "misconfigured",
                format!("the Worker is misconfigured: {e}"),
            );
            return Ok(problem.into_response());
        }
    };
    let ip = client_ip(&req);
    let mut req = match read_body(req).await {
        Ok(req) => req,
        Err(problem) => return Ok(problem),
    };
    // The rate limits count per client: without this every client would share one bucket.
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientIp(ip));
    }
    let res = alleato_http::router(state)
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {});
    Ok(res)
}
