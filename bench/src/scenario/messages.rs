//! End-to-end messages: each user sends to its own chat (`POST /api/v1/chats/{id}/messages`)
//! and reads every answer's stream to `data: [DONE]` before sending the next.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use http_body_util::BodyExt;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Step, closed_loop};
use crate::client::{Conn, Target, find_from};
use crate::stats::{Control, Recorder, Summary, percentiles, short};
use crate::{Common, Error, api};

/// Flags of `messages` (`--connections` is the number of users, one connection and chat each).
#[derive(Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub common: Common,
    /// The text each message sends; the echo model answers `Echo: <text>`, a token per word.
    #[arg(long, default_value = "Hello there, how is the weather today?")]
    pub text: String,
    /// The model of the chats.
    #[arg(long, default_value = "echo")]
    pub model: String,
    /// Chats per user, sent to in turn (more chats keep each chat's history shorter).
    #[arg(long, default_value_t = 1)]
    pub chats_per_user: usize,
}

/// Reads an answer's SSE body to its end. Returns the whole body, and when (since `t0`) the
/// first event and the first `text-delta` arrived.
pub async fn read_stream(
    body: hyper::body::Incoming,
    t0: Instant,
) -> Result<(Vec<u8>, Option<Duration>, Option<Duration>), Error> {
    let mut body = body;
    let mut buf = Vec::with_capacity(4096);
    let (mut first_event, mut first_token) = (None, None);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        let from = buf.len();
        buf.extend_from_slice(&data);
        if first_event.is_none() && find_from(&buf, from, b"data:").is_some() {
            first_event = Some(t0.elapsed());
        }
        if first_token.is_none() && find_from(&buf, from, b"\"text-delta\"").is_some() {
            first_token = Some(t0.elapsed());
        }
    }
    Ok((buf, first_event, first_token))
}

/// The answer's text: its `text-delta` deltas joined.
pub fn answer_text(sse: &[u8]) -> String {
    let text = String::from_utf8_lossy(sse);
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["type"] == "text-delta")
        .filter_map(|v| v["delta"].as_str().map(str::to_owned))
        .collect()
}

/// Checks a finished answer stream: it ends with `finish` and `[DONE]`, without `error`.
pub fn check_stream(sse: &[u8]) -> Result<(), &'static str> {
    if !sse.ends_with(b"data: [DONE]\n\n") {
        return Err("the stream did not end with data: [DONE]");
    }
    if find_from(sse, 0, br#"{"type":"finish"}"#).is_none() {
        return Err("the stream has no finish chunk");
    }
    if find_from(sse, 0, br#"{"type":"error""#).is_some() {
        return Err("the stream carries an error chunk");
    }
    Ok(())
}

struct Sender {
    auth: HeaderValue,
    paths: Vec<String>,
    turn: usize,
    body: Bytes,
    /// The first answer of each user is checked word for word.
    expect: Option<String>,
}

impl Step for Sender {
    async fn step(&mut self, conn: &mut Conn, rec: &mut Recorder, ctl: &Control, t0: Instant) -> Result<(), Error> {
        let path = &self.paths[self.turn % self.paths.len()];
        self.turn += 1;
        let req = conn.request(Method::POST, path, Some(&self.auth), Some(self.body.clone()));
        let res = conn.send(req).await?;
        let head = t0.elapsed();
        let status = res.status();
        if status != StatusCode::OK {
            let body = res.into_body().collect().await?.to_bytes();
            return Err(format!("POST messages: {status}: {}", String::from_utf8_lossy(&body)).into());
        }
        let (sse, first_event, first_token) = read_stream(res.into_body(), t0).await?;
        let complete = t0.elapsed();
        check_stream(&sse)?;
        if let Some(want) = self.expect.take() {
            let got = answer_text(&sse);
            if got != want {
                return Err(format!("the answer was {got:?}, not {want:?}").into());
            }
        }
        rec.ok(ctl, t0, head);
        if let Some(d) = first_event {
            rec.extra(ctl, t0, "first_event", d);
        }
        if let Some(d) = first_token {
            rec.extra(ctl, t0, "first_token", d);
        }
        rec.extra(ctl, t0, "complete", complete);
        Ok(())
    }
}

/// Runs the scenario; `Ok(false)` when there were errors.
pub async fn run(o: Options) -> Result<bool, Error> {
    let target = Target::parse(&o.common.base_url).await?;
    api::wait_healthy(&target, Duration::from_secs(15)).await?;
    let n = o.common.connections.unwrap_or(128).max(1);
    let setup = Instant::now();
    let users = api::register_users(&target, n, 4).await?;
    let per_user = o.chats_per_user.max(1);
    let wanted: Vec<usize> = (0..n * per_user).collect();
    let (users_for, model) = (users.clone(), o.model.clone());
    let chats = api::on_connections(&target, wanted, 8, move |mut conn, i, _| {
        let (user, model) = (users_for[i / per_user].clone(), model.clone());
        async move {
            let id = api::create_chat(&mut conn, &user, &json!({"title": "Benchmark", "model": model})).await?;
            Ok((conn, id))
        }
    })
    .await?;
    eprintln!(
        "messages: set up {n} users and {} chats in {:.1} s",
        chats.len(),
        setup.elapsed().as_secs_f64()
    );
    let body = Bytes::from(serde_json::to_vec(&json!({
        "message": {"role": "user", "parts": [{"type": "text", "text": o.text}]}
    }))?);
    let workers: Vec<Sender> = users
        .iter()
        .enumerate()
        .map(|(u, user)| Sender {
            auth: user.auth.clone(),
            paths: chats[u * per_user..(u + 1) * per_user]
                .iter()
                .map(|c| format!("/api/v1/chats/{c}/messages"))
                .collect(),
            turn: 0,
            body: body.clone(),
            expect: (o.model == "echo").then(|| format!("Echo: {}", o.text)),
        })
        .collect();
    let ctl = Arc::new(Control::new(
        o.common.duration,
        o.common.warmup,
        o.common.requests,
        o.common.max_time,
    ));
    let cpu = ctl.watch_cpu(o.common.server_pid);
    let (mut rec, end) = closed_loop(&target, ctl.clone(), workers).await;
    let cpu = cpu.await?.usage(&crate::stats::CpuSample::take(o.common.server_pid));
    let mut extra = cpu;
    extra.insert("users".into(), json!(n));
    extra.insert("chats_per_user".into(), json!(per_user));
    extra.insert("model".into(), json!(o.model));
    let note = format!(
        "first event {}; first token {}; complete {}",
        short(rec.extra.entry("first_event").or_insert_with(crate::stats::histogram)),
        short(rec.extra.entry("first_token").or_insert_with(crate::stats::histogram)),
        short(rec.extra.entry("complete").or_insert_with(crate::stats::histogram)),
    );
    for (name, h) in &rec.extra {
        extra.insert(format!("{name}_ms"), percentiles(h));
    }
    let summary = Summary {
        scenario: "messages",
        connections: n,
        window: ctl.window(end),
        requests: rec.ok,
        errors: ctl.errors(),
        latency: rec.latency,
        latency_label: "TTFB (response head)",
        extra,
        note,
    };
    Ok(summary.report(o.common.server_pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"id: 0\ndata: {\"type\":\"start\",\"messageId\":\"m\"}\n\nid: 1\ndata: {\"type\":\"text-delta\",\"id\":\"0\",\"delta\":\"Echo:\"}\n\nid: 2\ndata: {\"type\":\"text-delta\",\"id\":\"0\",\"delta\":\" hi\"}\n\nid: 3\ndata: {\"type\":\"finish\"}\n\ndata: [DONE]\n\n";

    #[test]
    fn a_whole_answer_passes_the_checks() {
        assert_eq!(check_stream(STREAM), Ok(()));
        assert_eq!(answer_text(STREAM), "Echo: hi");
    }

    #[test]
    fn a_cut_or_failed_answer_does_not() {
        assert!(check_stream(&STREAM[..STREAM.len() - 2]).is_err());
        let failed =
            b"data: {\"type\":\"error\",\"errorText\":\"x\"}\n\ndata: {\"type\":\"finish\"}\n\ndata: [DONE]\n\n";
        assert!(check_stream(failed).is_err());
    }
}
