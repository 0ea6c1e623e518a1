//! The one wiring of the ports into the use cases, shared by the native server, the Worker,
//! tests and embedders: each runtime builds its adapters and hands them here.

use std::sync::Arc;

use crate::auth::{AuthConfig, AuthService, PasswordHasher, SessionStore, TokenCodec, UserStore};
use crate::chats::{ChatService, ChatStore};
use crate::generations::Generations;
use crate::limits::{LimitPolicy, Limits};
use crate::llm::{LanguageModel, Sleeper};
use crate::messages::{MessageConfig, MessagePorts, MessageService, MessageStore, QuotaConfig, UsageStore};
use crate::models::ModelCatalog;
use crate::ports::{Clock, Counters, KvCache, Rng};
use crate::streams::{StreamHub, StreamService};

/// The record stores. Every adapter so far keeps them in one database: [`Stores::all`].
#[derive(Clone)]
pub struct Stores {
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Sessions and refresh tokens (exact).
    pub sessions: Arc<dyn SessionStore>,
    /// Chats.
    pub chats: Arc<dyn ChatStore>,
    /// Messages and votes.
    pub messages: Arc<dyn MessageStore>,
    /// Daily usage.
    pub usage: Arc<dyn UsageStore>,
}

impl Stores {
    /// Every record store on one adapter.
    pub fn all<S>(store: Arc<S>) -> Self
    where
        S: UserStore + SessionStore + ChatStore + MessageStore + UsageStore,
    {
        Self {
            users: store.clone(),
            sessions: store.clone(),
            chats: store.clone(),
            messages: store.clone(),
            usage: store,
        }
    }
}

/// Every port the use cases need, as one runtime's adapters.
#[derive(Clone)]
pub struct Ports {
    /// The record stores.
    pub stores: Stores,
    /// Stream logs with live followers.
    pub hub: Arc<dyn StreamHub>,
    /// Where generations run.
    pub generations: Arc<dyn Generations>,
    /// The language models, by id.
    pub model: Arc<dyn LanguageModel>,
    /// The response cache (may be eventually consistent).
    pub response_cache: Arc<dyn KvCache>,
    /// Exact counters (rate limits).
    pub counters: Arc<dyn Counters>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Access tokens.
    pub tokens: Arc<dyn TokenCodec>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Secure randomness.
    pub rng: Arc<dyn Rng>,
    /// The runtime's timer.
    pub sleeper: Arc<dyn Sleeper>,
}

/// The settings of the use cases.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Tokens and sessions.
    pub auth: AuthConfig,
    /// Context and response cache.
    pub messages: MessageConfig,
    /// Daily quotas.
    pub quotas: QuotaConfig,
    /// Per-user caps on streams and chats.
    pub limits: Limits,
}

/// The use cases, wired, and the ports the HTTP shell itself uses.
#[derive(Clone)]
pub struct Services {
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
    /// Exact counters (rate limits).
    pub counters: Arc<dyn Counters>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Secure randomness.
    pub rng: Arc<dyn Rng>,
    /// The runtime's timer.
    pub sleeper: Arc<dyn Sleeper>,
}

impl Services {
    /// Wires the use cases over `ports`, offering the models of `catalog`.
    pub fn build(ports: Ports, catalog: ModelCatalog, settings: Settings) -> Self {
        let Ports {
            stores,
            hub,
            generations,
            model,
            response_cache,
            counters,
            hasher,
            tokens,
            clock,
            rng,
            sleeper,
        } = ports;
        let catalog = Arc::new(catalog);
        let limits = Arc::new(LimitPolicy::new(stores.users.clone(), settings.limits));
        let auth = Arc::new(AuthService::new(
            stores.users.clone(),
            stores.sessions,
            hasher,
            tokens,
            clock.clone(),
            rng.clone(),
            settings.auth,
        ));
        let chats = Arc::new(ChatService::new(
            stores.chats.clone(),
            hub.clone(),
            catalog.clone(),
            limits.clone(),
            clock.clone(),
            rng.clone(),
        ));
        let messages = Arc::new(MessageService::new(
            MessagePorts {
                chats: chats.clone(),
                chat_store: stores.chats,
                messages: stores.messages,
                usage: stores.usage,
                users: stores.users,
                hub: hub.clone(),
                model,
                cache: response_cache,
                generations,
                catalog: catalog.clone(),
                clock: clock.clone(),
                rng: rng.clone(),
            },
            settings.messages,
            settings.quotas,
        ));
        let streams = Arc::new(StreamService::new(
            hub,
            chats.clone(),
            messages.clone(),
            limits,
            clock.clone(),
            rng.clone(),
        ));
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
        }
    }
}
