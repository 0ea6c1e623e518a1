//! Setting up through the API what a scenario needs: users, chats, streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::Error;
use crate::client::{Conn, Target};

/// A registered user and its access token.
#[derive(Clone)]
pub struct User {
    /// `Bearer <accessToken>`.
    pub auth: HeaderValue,
}

/// Waits (at most `patience`) for `GET /health` to answer 200.
pub async fn wait_healthy(target: &Target, patience: Duration) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let attempt = async {
            let mut conn = Conn::open(target).await?;
            let req = conn.request(Method::GET, "/health", None, None);
            let (status, _) = conn.fetch(req).await?;
            Ok::<_, Error>(status)
        };
        match attempt.await {
            Ok(StatusCode::OK) => return Ok(()),
            Ok(status) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("GET /health answered {status}").into());
            }
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("the server at {} is not up: {e}", target.addr).into());
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A tag that makes this run's emails unique, so that a scenario can run twice against one
/// server.
fn run_tag() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

/// Registers `n` users, `parallel` at a time (Argon2 makes each registration cost tens of
/// milliseconds of server CPU).
pub async fn register_users(target: &Target, n: usize, parallel: usize) -> Result<Vec<User>, Error> {
    let tag = Arc::new(run_tag());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..parallel.clamp(1, n.max(1)) {
        let (target, tag, next) = (target.clone(), tag.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open_retrying(&target, Duration::from_secs(5)).await?;
            let mut users = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, Error>(users);
                }
                let body = json!({"email": format!("bench-{tag}-{i}@example.com"), "password": "benchmark password"});
                let res = conn
                    .json(
                        Method::POST,
                        "/api/v1/auth/register",
                        None,
                        Some(&body),
                        StatusCode::CREATED,
                    )
                    .await?;
                let token = res["accessToken"].as_str().ok_or("register: no accessToken")?;
                users.push((
                    i,
                    User {
                        auth: HeaderValue::from_str(&format!("Bearer {token}"))?,
                    },
                ));
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, u)| u).collect())
}

/// Creates a chat for `user` with this body; returns its id.
pub async fn create_chat(conn: &mut Conn, user: &User, body: &Value) -> Result<String, Error> {
    let res = conn
        .json(
            Method::POST,
            "/api/v1/chats",
            Some(&user.auth),
            Some(body),
            StatusCode::CREATED,
        )
        .await?;
    Ok(res["chat"]["id"].as_str().ok_or("create chat: no chat.id")?.to_owned())
}

/// Opens a stream for `user`; returns its id.
pub async fn create_stream(conn: &mut Conn, user: &User) -> Result<String, Error> {
    let res = conn
        .json(
            Method::POST,
            "/api/v1/streams",
            Some(&user.auth),
            Some(&json!({})),
            StatusCode::CREATED,
        )
        .await?;
    Ok(res["stream"]["id"]
        .as_str()
        .ok_or("create stream: no stream.id")?
        .to_owned())
}

/// Runs `f` over `items` on `parallel` connections at once, keeping the results in order.
pub async fn on_connections<T, R, F, Fut>(
    target: &Target,
    items: Vec<T>,
    parallel: usize,
    f: F,
) -> Result<Vec<R>, Error>
where
    T: Send + Sync + 'static,
    R: Send + 'static,
    F: Fn(Conn, usize, Arc<Vec<T>>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(Conn, R), Error>> + Send + 'static,
{
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..parallel.clamp(1, items.len().max(1)) {
        let (target, items, next, f) = (target.clone(), items.clone(), next.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open_retrying(&target, Duration::from_secs(5)).await?;
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    return Ok::<_, Error>(out);
                }
                let (c, r) = f(conn, i, items.clone()).await?;
                conn = c;
                out.push((i, r));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}
