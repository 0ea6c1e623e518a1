//! `GET /api/v1/chats`: the first page (20 chats) of one of a few users, on every connection;
//! with `--history N`, `GET /api/v1/chats/{id}/messages` instead: the first page (20 messages)
//! of a chat of N messages.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::messages::{check_stream, read_stream};
use super::{Step, closed_loop};
use crate::client::{Conn, Target};
use crate::stats::{Control, Recorder, Summary};
use crate::{Common, Error, api};

/// Flags of `list`.
#[derive(Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub common: Common,
    /// Users whose lists are read (connections take them in turn).
    #[arg(long, default_value_t = 8)]
    pub users: usize,
    /// Chats each user has; the list returns the first 20.
    #[arg(long, default_value_t = 25)]
    pub chats: usize,
    /// Read a chat's history instead of the chat list: each user gets one chat with this many
    /// messages (half questions, half echo answers; the server should answer with no delay).
    #[arg(long, default_value_t = 0)]
    pub history: usize,
}

/// The first page of a listing holds this many items at most.
const PAGE: usize = 20;

struct Lister {
    auth: HeaderValue,
    path: String,
    /// The array in the answer that holds the page.
    key: &'static str,
    /// The first answer of each connection is checked in full; later ones by status.
    checked: bool,
    want: usize,
}

impl Step for Lister {
    async fn step(&mut self, conn: &mut Conn, rec: &mut Recorder, ctl: &Control, t0: Instant) -> Result<(), Error> {
        let req = conn.request(Method::GET, &self.path, Some(&self.auth), None);
        let (status, body) = conn.fetch(req).await?;
        let took = t0.elapsed();
        if status != StatusCode::OK {
            return Err(format!("GET {}: {status}", self.path).into());
        }
        if !self.checked {
            let v: Value = serde_json::from_slice(&body)?;
            let n = v[self.key].as_array().map_or(0, Vec::len);
            if n != self.want {
                return Err(format!("GET {} returned {n} {}, not {}", self.path, self.key, self.want).into());
            }
            self.checked = true;
        }
        rec.ok(ctl, t0, took);
        Ok(())
    }
}

/// Runs the scenario; `Ok(false)` when there were errors.
pub async fn run(o: Options) -> Result<bool, Error> {
    let target = Target::parse(&o.common.base_url).await?;
    api::wait_healthy(&target, std::time::Duration::from_secs(15)).await?;
    let users = api::register_users(&target, o.users.max(1), 4).await?;
    let (scenario, key, paths, want) = if o.history == 0 {
        create_chats(&target, &users, o.chats).await?;
        let paths = vec!["/api/v1/chats".to_owned(); users.len()];
        ("list", "chats", paths, o.chats.min(PAGE))
    } else {
        let sends = o.history.div_ceil(2);
        let chats = create_histories(&target, &users, sends).await?;
        let paths = chats.iter().map(|c| format!("/api/v1/chats/{c}/messages")).collect();
        ("history", "messages", paths, (sends * 2).min(PAGE))
    };
    let connections = o.common.connections.unwrap_or(64).max(1);
    let workers = (0..connections)
        .map(|i| Lister {
            auth: users[i % users.len()].auth.clone(),
            path: paths[i % users.len()].clone(),
            key,
            checked: false,
            want,
        })
        .collect();
    let ctl = Arc::new(Control::new(
        o.common.duration,
        o.common.warmup,
        o.common.requests,
        o.common.max_time,
    ));
    let cpu = ctl.watch_cpu(o.common.server_pid);
    let (rec, end) = closed_loop(&target, ctl.clone(), workers).await;
    let cpu = cpu.await?.usage(&crate::stats::CpuSample::take(o.common.server_pid));
    let mut extra = cpu;
    extra.insert("users".into(), json!(users.len()));
    extra.insert(format!("{key}_per_page"), json!(want));
    let summary = Summary {
        scenario,
        connections,
        window: ctl.window(end),
        requests: rec.ok,
        errors: ctl.errors(),
        latency: rec.latency,
        latency_label: "latency",
        extra,
        note: String::new(),
    };
    Ok(summary.report(o.common.server_pid))
}

/// Gives each user `chats` chats.
async fn create_chats(target: &Target, users: &[api::User], chats: usize) -> Result<(), Error> {
    let mut pairs = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for c in 0..chats {
            pairs.push((user.clone(), json!({"title": format!("Chat {c} of user {u}")})));
        }
    }
    api::on_connections(target, pairs, 8, |mut conn, i, pairs| async move {
        let (user, body) = &pairs[i];
        api::create_chat(&mut conn, user, body).await?;
        Ok((conn, ()))
    })
    .await?;
    Ok(())
}

/// Gives each user one echo chat with `sends` questions and their answers; returns the chats'
/// ids, one per user in order.
async fn create_histories(target: &Target, users: &[api::User], sends: usize) -> Result<Vec<String>, Error> {
    let users = users.to_vec();
    let body = bytes::Bytes::from(serde_json::to_vec(&json!({
        "message": {"role": "user", "parts": [{"type": "text", "text": "What is in the history?"}]}
    }))?);
    api::on_connections(target, (0..users.len()).collect(), 8, move |mut conn, i, _| {
        let (user, body) = (users[i].clone(), body.clone());
        async move {
            let chat = api::create_chat(&mut conn, &user, &json!({"title": "History", "model": "echo"})).await?;
            let path = format!("/api/v1/chats/{chat}/messages");
            for _ in 0..sends {
                let req = conn.request(Method::POST, &path, Some(&user.auth), Some(body.clone()));
                let res = conn.send(req).await?;
                if res.status() != StatusCode::OK {
                    return Err(format!("POST {path}: {}", res.status()).into());
                }
                let (sse, _, _) = read_stream(res.into_body(), Instant::now()).await?;
                check_stream(&sse)?;
            }
            Ok((conn, chat))
        }
    })
    .await
}
