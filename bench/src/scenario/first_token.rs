//! The latency alleato adds to the first token: the same client asks the fake upstream
//! directly and then through alleato (a chat of model `fake`), in turns, and compares the
//! times to the first token.
//!
//! The server must have been started with `ALLEATO_OPENAI_BASE_URL=http://<upstream>/v1` and
//! `ALLEATO_OPENAI_MODELS=fake`, `<upstream>` being `--upstream-listen`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use serde_json::{Map, json};

use super::messages::{check_stream, read_stream};
use crate::client::{Conn, Target, find_from};
use crate::stats::{Control, Summary, histogram, percentiles, record};
use crate::{Common, Error, api, upstream};

/// Flags of `first-token` (`--connections` pairs of client connections run at once; 1 by
/// default, which measures an otherwise idle server).
#[derive(Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub common: Common,
    /// Where the fake upstream listens; the server's `ALLEATO_OPENAI_BASE_URL` must point here.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub upstream_listen: SocketAddr,
    /// The model id the server serves from the upstream.
    #[arg(long, default_value = "fake")]
    pub model: String,
    /// Chats sent to in turn (each message adds to a chat's history and so to the context).
    #[arg(long, default_value_t = 20)]
    pub chats: usize,
}

struct Pair {
    direct: Duration,
    via: Duration,
    via_head: Duration,
}

async fn direct_ttft(conn: &mut Conn, body: &Bytes) -> Result<Duration, Error> {
    let t0 = Instant::now();
    let req = conn.request(Method::POST, "/v1/chat/completions", None, Some(body.clone()));
    let res = conn.send(req).await?;
    if res.status() != StatusCode::OK {
        return Err(format!("upstream: {}", res.status()).into());
    }
    let mut body = res.into_body();
    let (mut buf, mut first) = (Vec::new(), None);
    let needle = format!("\"content\":\"{}\"", upstream::ANSWER[0]);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        let from = buf.len();
        buf.extend_from_slice(&data);
        if first.is_none() && find_from(&buf, from, needle.as_bytes()).is_some() {
            first = Some(t0.elapsed());
        }
    }
    first.ok_or_else(|| "the upstream sent no content".into())
}

async fn via_ttft(
    conn: &mut Conn,
    auth: &hyper::header::HeaderValue,
    path: &str,
    body: &Bytes,
) -> Result<(Duration, Duration), Error> {
    let t0 = Instant::now();
    let req = conn.request(Method::POST, path, Some(auth), Some(body.clone()));
    let res = conn.send(req).await?;
    let head = t0.elapsed();
    if res.status() != StatusCode::OK {
        let status = res.status();
        let text = res.into_body().collect().await?.to_bytes();
        return Err(format!("POST messages: {status}: {}", String::from_utf8_lossy(&text)).into());
    }
    let (sse, _, first_token) = read_stream(res.into_body(), t0).await?;
    check_stream(&sse)?;
    Ok((first_token.ok_or("the answer had no text-delta")?, head))
}

fn median_i64(v: &mut [i64]) -> i64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// Runs the scenario; `Ok(false)` when there were errors.
pub async fn run(o: Options) -> Result<bool, Error> {
    let up_addr = upstream::spawn(o.upstream_listen)?;
    let upstream_target = Target::parse(&format!("http://{up_addr}")).await?;
    let target = Target::parse(&o.common.base_url).await?;
    api::wait_healthy(&target, Duration::from_secs(15)).await?;
    let pairs_at_once = o.common.connections.unwrap_or(1).max(1);
    let users = api::register_users(&target, pairs_at_once, 4).await?;
    let mut setup = Conn::open(&target).await?;
    let mut chats = Vec::new();
    for user in &users {
        let mut mine = Vec::new();
        for _ in 0..o.chats.max(1) {
            let res = setup
                .json(
                    Method::POST,
                    "/api/v1/chats",
                    Some(&user.auth),
                    Some(&json!({"model": o.model})),
                    StatusCode::CREATED,
                )
                .await?;
            if res["chat"]["model"] != o.model.as_str() {
                return Err(format!(
                    "the server does not serve model {:?} (is ALLEATO_OPENAI_MODELS set?)",
                    o.model
                )
                .into());
            }
            mine.push(format!(
                "/api/v1/chats/{}/messages",
                res["chat"]["id"].as_str().unwrap_or_default()
            ));
        }
        chats.push(mine);
    }
    let text = "Say hello";
    let direct_body = Bytes::from(
        json!({"model": o.model, "messages": [{"role": "user", "content": text}], "stream": true, "stream_options": {"include_usage": true}})
            .to_string(),
    );
    let via_body =
        Bytes::from(json!({"message": {"role": "user", "parts": [{"type": "text", "text": text}]}}).to_string());

    let ctl = Arc::new(Control::new(
        o.common.duration,
        o.common.warmup,
        o.common.requests,
        o.common.max_time,
    ));
    let mut tasks = Vec::new();
    for (u, user) in users.into_iter().enumerate() {
        let (ctl, target, upstream_target) = (ctl.clone(), target.clone(), upstream_target.clone());
        let (paths, direct_body, via_body) = (chats[u].clone(), direct_body.clone(), via_body.clone());
        tasks.push(tokio::spawn(async move {
            let mut pairs = Vec::new();
            let mut up = Conn::open(&upstream_target).await?;
            let mut server = Conn::open(&target).await?;
            let mut turn = 0usize;
            while ctl.next() {
                let t0 = Instant::now();
                // Reconnect after a failure, so that one broken connection does not end the run.
                if !up.is_open() {
                    up = Conn::open(&upstream_target).await?;
                }
                if !server.is_open() {
                    server = Conn::open(&target).await?;
                }
                let direct = match direct_ttft(&mut up, &direct_body).await {
                    Ok(d) => d,
                    Err(e) => {
                        ctl.error(format!("direct: {e}"));
                        continue;
                    }
                };
                let path = &paths[turn % paths.len()];
                turn += 1;
                match via_ttft(&mut server, &user.auth, path, &via_body).await {
                    Ok((via, via_head)) if ctl.counts(t0) => pairs.push(Pair { direct, via, via_head }),
                    Ok(_) => {}
                    Err(e) => ctl.error(format!("through alleato: {e}")),
                }
            }
            Ok::<_, Error>((pairs, Instant::now()))
        }));
    }
    let mut pairs = Vec::new();
    let mut end = ctl.start();
    for t in tasks {
        match t.await? {
            Ok((p, e)) => {
                pairs.extend(p);
                end = end.max(e);
            }
            Err(e) => ctl.error(format!("connection: {e}")),
        }
    }

    let (mut direct, mut via, mut head) = (histogram(), histogram(), histogram());
    let mut diffs: Vec<i64> = Vec::with_capacity(pairs.len());
    for p in &pairs {
        record(&mut direct, p.direct);
        record(&mut via, p.via);
        record(&mut head, p.via_head);
        diffs.push(p.via.as_micros() as i64 - p.direct.as_micros() as i64);
    }
    let median_of = |h: &hdrhistogram::Histogram<u64>| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(0.5) as i64
        }
    };
    let added_medians = median_of(&via) - median_of(&direct);
    let added_paired = median_i64(&mut diffs);
    let mut extra = Map::new();
    extra.insert("model".into(), json!(o.model));
    extra.insert("direct_ttft_ms".into(), percentiles(&direct));
    extra.insert("via_alleato_ttft_ms".into(), percentiles(&via));
    extra.insert("via_alleato_head_ms".into(), percentiles(&head));
    extra.insert("added_median_ms".into(), json!(added_medians as f64 / 1000.0));
    extra.insert("added_median_of_pairs_ms".into(), json!(added_paired as f64 / 1000.0));
    let note = format!(
        "direct TTFT {}; through alleato {}; alleato adds {:.3} ms at the median (median of paired differences {:.3} ms)",
        crate::stats::short(&direct),
        crate::stats::short(&via),
        added_medians as f64 / 1000.0,
        added_paired as f64 / 1000.0,
    );
    let summary = Summary {
        scenario: "first-token",
        connections: pairs_at_once,
        window: ctl.window(end),
        requests: pairs.len() as u64,
        errors: ctl.errors(),
        latency: via,
        latency_label: "TTFT through alleato",
        extra,
        note,
    };
    summary.print();
    Ok(summary.error_count() == 0)
}
