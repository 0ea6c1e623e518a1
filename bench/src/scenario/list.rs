//! `GET /api/v1/chats`: the first page (20 chats) of one of a few users, on every connection.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

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
}

struct Lister {
    auth: HeaderValue,
    /// The first answer of each connection is checked in full; later ones by status.
    checked: bool,
    want: usize,
}

impl Step for Lister {
    async fn step(&mut self, conn: &mut Conn, rec: &mut Recorder, ctl: &Control, t0: Instant) -> Result<(), Error> {
        let req = conn.request(Method::GET, "/api/v1/chats", Some(&self.auth), None);
        let (status, body) = conn.fetch(req).await?;
        let took = t0.elapsed();
        if status != StatusCode::OK {
            return Err(format!("GET /api/v1/chats: {status}").into());
        }
        if !self.checked {
            let v: Value = serde_json::from_slice(&body)?;
            let n = v["chats"].as_array().map_or(0, Vec::len);
            if n != self.want {
                return Err(format!("GET /api/v1/chats returned {n} chats, not {}", self.want).into());
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
    let mut pairs = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for c in 0..o.chats {
            pairs.push((user.clone(), json!({"title": format!("Chat {c} of user {u}")})));
        }
    }
    api::on_connections(&target, pairs, 8, |mut conn, i, pairs| async move {
        let (user, body) = &pairs[i];
        api::create_chat(&mut conn, user, body).await?;
        Ok((conn, ()))
    })
    .await?;
    let want = o.chats.min(20);
    let connections = o.common.connections.unwrap_or(64).max(1);
    let workers = (0..connections)
        .map(|i| Lister {
            auth: users[i % users.len()].auth.clone(),
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
    extra.insert("chats_per_page".into(), json!(want));
    let summary = Summary {
        scenario: "list",
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
