//! Embedding Alleato's core in another Rust service, with the in-memory adapters: no HTTP, no
//! database. A guest signs in, opens a chat, and the echo model's answer is printed as it streams.
//!
//! `cargo run -p alleato-examples --example embed`

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alleato_core::Timestamp;
use alleato_core::auth::{AccessClaims, Argon2Hasher, Argon2Params, TokenCodec, TokenError};
use alleato_core::builder::{Ports, Services, Settings, Stores};
use alleato_core::chats::NewChat;
use alleato_core::llm::{EchoModel, ModelRouter, Sleeper};
use alleato_core::memory::{
    MemoryCache, MemoryCounters, MemoryGenerations, MemorySessions, MemoryStore, MemoryStreamHub,
};
use alleato_core::messages::ui_stream::UiChunk;
use alleato_core::messages::{Part, SendInput, Trigger};
use alleato_core::models::{ModelCatalog, ModelInfo};
use alleato_core::ports::{Clock, Rng};
use futures::StreamExt;

/// The host's clock.
struct HostClock;

impl Clock for HostClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Timestamp::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// Randomness for ids. A real service would use the operating system's generator; this
/// example mixes the clock into a counter to stay free of dependencies.
struct ExampleRng(std::sync::atomic::AtomicU64);

impl Rng for ExampleRng {
    fn fill(&self, dest: &mut [u8]) {
        for b in dest {
            let x = self
                .0
                .fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed);
            *b = (x ^ (x >> 29)).to_le_bytes()[3];
        }
    }
}

/// The host's timer: tokio here.
struct Tokio;

#[async_trait::async_trait]
impl Sleeper for Tokio {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// This service authenticates its own users, so access tokens are never decoded here.
struct NoTokens;

impl TokenCodec for NoTokens {
    fn encode(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        Ok(claims.sid.to_string())
    }
    fn decode(&self, _: &str) -> Result<AccessClaims, TokenError> {
        Err(TokenError::Invalid)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock: Arc<dyn Clock> = Arc::new(HostClock);
    let rng: Arc<dyn Rng> = Arc::new(ExampleRng(std::sync::atomic::AtomicU64::new(
        clock.now().as_millis() as u64
    )));
    let store = Arc::new(MemoryStore::new());
    let catalog = ModelCatalog::new(vec![ModelInfo {
        id: "echo".into(),
        name: "Echo".into(),
    }])?;
    let model = ModelRouter::new().with(
        "echo",
        Arc::new(EchoModel::new(Arc::new(Tokio), Duration::from_millis(50))),
    );
    let ports = Ports {
        stores: Stores {
            users: store.clone(),
            sessions: Arc::new(MemorySessions::new()),
            chats: store.clone(),
            messages: store.clone(),
            usage: store,
        },
        hub: Arc::new(MemoryStreamHub::new(clock.clone())),
        // Generations run as the host's tasks: tokio here.
        generations: Arc::new(MemoryGenerations::new(|task| {
            tokio::spawn(task);
        })),
        model: Arc::new(model),
        response_cache: Arc::new(MemoryCache::new(clock.clone())),
        counters: Arc::new(MemoryCounters::new(clock.clone())),
        hasher: Arc::new(Argon2Hasher::new(Argon2Params::RECOMMENDED, rng.clone())),
        tokens: Arc::new(NoTokens),
        clock,
        rng,
        sleeper: Arc::new(Tokio),
    };
    let Services {
        auth, chats, messages, ..
    } = Services::build(ports, catalog, Settings::default());

    let guest = auth.guest().await?;
    let chat = chats.create(guest.user.id, NewChat::default()).await?;
    let input = SendInput {
        trigger: Trigger::Submit,
        parts: vec![Part::Text {
            text: "embedding the core is this simple".into(),
        }],
        model: None,
    };
    let generation = messages.send(guest.user.id, chat.id, input).await?;
    let mut events = generation.events;
    while let Some(event) = events.next().await {
        if let Some(delta) = UiChunk::delta_of(&event.data) {
            print!("{delta}");
        }
    }
    println!();
    let (chat, page) = messages.chat_with_messages(Some(guest.user.id), chat.id).await?;
    println!("chat {:?} now holds {} messages", chat.title.as_str(), page.items.len());
    Ok(())
}
