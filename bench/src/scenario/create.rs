//! `POST /api/v1/chats`: every connection creates chats for one of a few users.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use clap::Args;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::json;

use super::{Step, closed_loop};
use crate::client::{Conn, Target};
use crate::stats::{Control, Recorder, Summary};
use crate::{Common, Error, api};

/// Flags of `create`.
#[derive(Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub common: Common,
    /// Users who create chats (connections take them in turn).
    #[arg(long, default_value_t = 8)]
    pub users: usize,
}

struct Creator {
    auth: HeaderValue,
    body: Bytes,
}

impl Step for Creator {
    async fn step(&mut self, conn: &mut Conn, rec: &mut Recorder, ctl: &Control, t0: Instant) -> Result<(), Error> {
        let req = conn.request(Method::POST, "/api/v1/chats", Some(&self.auth), Some(self.body.clone()));
        let (status, _) = conn.fetch(req).await?;
        let took = t0.elapsed();
        if status != StatusCode::CREATED {
            return Err(format!("POST /api/v1/chats: {status}").into());
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
    let body = Bytes::from_static(br#"{"title":"Benchmark chat"}"#);
    let connections = o.common.connections.unwrap_or(64).max(1);
    let workers = (0..connections)
        .map(|i| Creator {
            auth: users[i % users.len()].auth.clone(),
            body: body.clone(),
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
    let summary = Summary {
        scenario: "create",
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
