//! Live followers: many `GET /api/v1/streams/{id}` held open at once, then a few events
//! appended to every stream and each follower checked to have received all of them, in order,
//! and the end (`data: [DONE]`) once the stream is closed. Reports the server's memory with
//! every follower connected.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use http_body_util::BodyExt;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, Semaphore};

use crate::client::{Conn, Target};
use crate::stats::{Summary, histogram, percentiles, record};
use crate::{Common, Error, api, memory_kib};

/// Flags of `followers` (`--connections` is the number of connections that append and close).
#[derive(Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub common: Common,
    /// Followers held open at once.
    #[arg(long, default_value_t = 10_000)]
    pub followers: usize,
    /// Followers per stream.
    #[arg(long, default_value_t = 10)]
    pub per_stream: usize,
    /// Users owning the streams (each follower reads a stream of its owner's).
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Events appended to every stream once all followers are connected.
    #[arg(long, default_value_t = 3)]
    pub events: usize,
    /// Followers connecting at the same time (the server's accept backlog is finite).
    #[arg(long, default_value_t = 256)]
    pub connect_parallel: usize,
    /// How long connecting all followers, and delivering to all of them, may each take.
    #[arg(long, default_value = "120s", value_parser = crate::parse_duration)]
    pub patience: Duration,
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(base().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One SSE event: its `id:` and its `data:` lines joined.
#[derive(Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field.
    pub id: Option<u64>,
    /// The data.
    pub data: String,
}

/// Takes the complete events (ending in a blank line) off the front of `buf`; comments
/// (`: ping`) are skipped.
pub fn take_events(buf: &mut Vec<u8>) -> Vec<SseEvent> {
    let mut out = Vec::new();
    let mut consumed = 0;
    while let Some(end) = buf[consumed..].windows(2).position(|w| w == b"\n\n") {
        let block = &buf[consumed..consumed + end];
        consumed += end + 2;
        let (mut id, mut data, mut any) = (None, String::new(), false);
        for line in String::from_utf8_lossy(block).lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("data:") {
                if any {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
                any = true;
            }
        }
        if any {
            out.push(SseEvent { id, data });
        }
    }
    buf.drain(..consumed);
    out
}

#[derive(Default)]
struct Followed {
    connected: bool,
    seqs: Vec<u64>,
    latencies_us: Vec<u64>,
    done: bool,
    error: Option<String>,
}

async fn follow(
    target: Target,
    auth: HeaderValue,
    path: String,
    gate: Arc<Semaphore>,
    ready: Arc<(AtomicUsize, Notify)>,
    patience: Duration,
) -> Followed {
    let mut out = Followed::default();
    let permit = gate.acquire_owned().await;
    let head = async {
        let mut conn = Conn::open_retrying(&target, patience).await?;
        let req = conn.request(Method::GET, &path, Some(&auth), None);
        let res = conn.send(req).await?;
        if res.status() != StatusCode::OK {
            return Err::<_, Error>(format!("GET /api/v1/streams/{{id}}: {}", res.status()).into());
        }
        Ok((conn, res))
    };
    let (conn, res) = match tokio::time::timeout(patience, head).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            out.error = Some(e.to_string());
            ready.0.fetch_add(1, Ordering::Relaxed);
            ready.1.notify_one();
            return out;
        }
        Err(_) => {
            out.error = Some("connecting took too long".into());
            ready.0.fetch_add(1, Ordering::Relaxed);
            ready.1.notify_one();
            return out;
        }
    };
    drop(permit);
    out.connected = true;
    ready.0.fetch_add(1, Ordering::Relaxed);
    ready.1.notify_one();
    let mut body = res.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(f) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
            Err(e) => {
                out.error = Some(format!("reading the stream: {e}"));
                break;
            }
        };
        buf.extend_from_slice(&data);
        let at = now_nanos();
        for ev in take_events(&mut buf) {
            if ev.data == "[DONE]" {
                out.done = true;
                continue;
            }
            if let Some(seq) = ev.id {
                out.seqs.push(seq);
            }
            if let Some(t) = serde_json::from_str::<Value>(&ev.data)
                .ok()
                .and_then(|v| v["t"].as_u64())
            {
                out.latencies_us.push(at.saturating_sub(t) / 1000);
            }
        }
    }
    drop(conn);
    out
}

/// Sends `(method, path, body)` for every stream on `parallel` connections, as the stream's
/// owner; returns the latencies of the requests in microseconds.
async fn for_every_stream(
    target: &Target,
    streams: Arc<Vec<(HeaderValue, String)>>,
    parallel: usize,
    method: Method,
    suffix: &'static str,
    event: Option<usize>,
) -> Result<Vec<u64>, Error> {
    let items: Vec<usize> = (0..streams.len()).collect();
    let lat = api::on_connections(target, items, parallel, move |mut conn, i, _| {
        let (auth, id) = streams[i].clone();
        let method = method.clone();
        async move {
            let path = format!("/api/v1/streams/{id}{suffix}");
            let body = event.map(|k| Bytes::from(json!({"data": {"t": now_nanos(), "k": k}}).to_string()));
            let t0 = Instant::now();
            let req = conn.request(method.clone(), &path, Some(&auth), body);
            let (status, text) = conn.fetch(req).await?;
            if status != StatusCode::OK {
                return Err(format!("{method} {path}: {status}: {}", String::from_utf8_lossy(&text)).into());
            }
            Ok((conn, u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX)))
        }
    })
    .await?;
    Ok(lat)
}

/// Runs the scenario; `Ok(false)` when there were errors.
pub async fn run(o: Options) -> Result<bool, Error> {
    base();
    let target = Target::parse(&o.common.base_url).await?;
    api::wait_healthy(&target, Duration::from_secs(15)).await?;
    let setup = Instant::now();
    let users = api::register_users(&target, o.users.max(1), 4).await?;
    let n_streams = o.followers.div_ceil(o.per_stream.max(1)).max(1);
    let owners: Vec<usize> = (0..n_streams).map(|s| s % users.len()).collect();
    let users_for = users.clone();
    let ids = api::on_connections(&target, owners.clone(), 8, move |mut conn, i, owners| {
        let user = users_for[owners[i]].clone();
        async move {
            let id = api::create_stream(&mut conn, &user).await?;
            Ok((conn, id))
        }
    })
    .await?;
    let streams: Arc<Vec<(HeaderValue, String)>> = Arc::new(
        owners
            .iter()
            .zip(&ids)
            .map(|(&u, id)| (users[u].auth.clone(), id.clone()))
            .collect(),
    );
    eprintln!(
        "followers: set up {} users and {n_streams} streams in {:.1} s",
        users.len(),
        setup.elapsed().as_secs_f64()
    );
    let rss_before = o.common.server_pid.and_then(memory_kib);

    // Connect every follower and wait until each has its response head (or has failed).
    let gate = Arc::new(Semaphore::new(o.connect_parallel.max(1)));
    let ready = Arc::new((AtomicUsize::new(0), Notify::new()));
    let connect_start = Instant::now();
    let mut tasks = Vec::with_capacity(o.followers);
    for f in 0..o.followers {
        let (auth, id) = streams[f % n_streams].clone();
        tasks.push(tokio::spawn(follow(
            target.clone(),
            auth,
            format!("/api/v1/streams/{id}"),
            gate.clone(),
            ready.clone(),
            o.patience,
        )));
    }
    let deadline = tokio::time::Instant::now() + o.patience;
    while ready.0.load(Ordering::Relaxed) < o.followers {
        if tokio::time::timeout_at(deadline, ready.1.notified()).await.is_err() {
            break;
        }
    }
    let connect_time = connect_start.elapsed();
    // Let the server settle, then read its memory with every follower held open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_held = o.common.server_pid.and_then(memory_kib);
    let own_rss = memory_kib(std::process::id());
    eprintln!(
        "followers: {} of {} answered in {:.1} s; server RSS {}",
        ready.0.load(Ordering::Relaxed),
        o.followers,
        connect_time.as_secs_f64(),
        rss_held.map_or("unknown".into(), |(rss, _)| format!("{:.1} MiB", rss as f64 / 1024.0)),
    );

    // Append the events, round by round, then close every stream.
    let appenders = o.common.connections.unwrap_or(16).max(1);
    let deliver_start = Instant::now();
    let mut append_lat = histogram();
    let mut errors = std::collections::BTreeMap::<String, u64>::new();
    let mut error = |kind: String| {
        eprintln!("error: {kind}");
        *errors.entry(kind).or_insert(0) += 1;
    };
    for k in 0..o.events {
        match for_every_stream(&target, streams.clone(), appenders, Method::POST, "/append", Some(k)).await {
            Ok(lat) => lat
                .into_iter()
                .for_each(|us| record(&mut append_lat, Duration::from_micros(us))),
            Err(e) => error(format!("append: {e}")),
        }
    }
    if let Err(e) = for_every_stream(&target, streams.clone(), appenders, Method::DELETE, "", None).await {
        error(format!("close: {e}"));
    }

    // Every follower must have had every event, in order, and the end.
    let mut delivery = histogram();
    let (mut connected, mut complete, mut delivered) = (0usize, 0usize, 0u64);
    let want: Vec<u64> = (0..o.events as u64).collect();
    let deadline = tokio::time::Instant::now() + o.patience;
    for t in tasks {
        let got = match tokio::time::timeout_at(deadline, t).await {
            Ok(Ok(got)) => got,
            Ok(Err(e)) => {
                error(format!("follower task: {e}"));
                continue;
            }
            Err(_) => {
                error("a follower did not finish in time".into());
                continue;
            }
        };
        connected += usize::from(got.connected);
        delivered += got.seqs.len() as u64;
        for us in &got.latencies_us {
            record(&mut delivery, Duration::from_micros(*us));
        }
        if let Some(e) = got.error {
            error(e);
        } else if got.seqs != want {
            error(format!("a follower received events {:?}, not {:?}", got.seqs, want));
        } else if !got.done {
            error("a follower's stream ended without [DONE]".into());
        } else {
            complete += 1;
        }
    }
    let window = deliver_start.elapsed();
    let rss_after = o.common.server_pid.and_then(memory_kib);

    let mib = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
    let mut extra = Map::new();
    extra.insert("followers".into(), json!(o.followers));
    extra.insert("streams".into(), json!(n_streams));
    extra.insert("users".into(), json!(users.len()));
    extra.insert("events_per_stream".into(), json!(o.events));
    extra.insert("connected".into(), json!(connected));
    extra.insert("complete".into(), json!(complete));
    extra.insert(
        "connect_all_s".into(),
        json!((connect_time.as_secs_f64() * 100.0).round() / 100.0),
    );
    extra.insert("append_ms".into(), percentiles(&append_lat));
    if let Some((rss, _)) = rss_before {
        extra.insert("server_rss_before_mib".into(), json!(mib(rss)));
    }
    if let Some((rss, hwm)) = rss_held {
        extra.insert("server_rss_held_mib".into(), json!(mib(rss)));
        extra.insert("server_hwm_mib".into(), json!(mib(hwm)));
        if let Some((before, _)) = rss_before {
            let per = rss.saturating_sub(before) as f64 * 1024.0 / o.followers.max(1) as f64;
            extra.insert("server_bytes_per_follower".into(), json!(per.round()));
        }
    }
    if let Some((_, hwm)) = rss_after {
        extra.insert("server_hwm_after_mib".into(), json!(mib(hwm)));
    }
    if let Some((rss, _)) = own_rss {
        extra.insert("driver_rss_mib".into(), json!(mib(rss)));
    }
    let note = format!(
        "{complete}/{} followers got all {} events and [DONE]; all connected in {:.1} s; server RSS {} with all held (before {}); append {}",
        o.followers,
        o.events,
        connect_time.as_secs_f64(),
        rss_held.map_or("unknown".into(), |(r, _)| format!("{} MiB", mib(r))),
        rss_before.map_or("unknown".into(), |(r, _)| format!("{} MiB", mib(r))),
        crate::stats::short(&append_lat),
    );
    let summary = Summary {
        scenario: "followers",
        connections: o.followers,
        window,
        requests: delivered,
        errors,
        latency: delivery,
        latency_label: "delivery (append to follower)",
        extra,
        note,
    };
    summary.print();
    Ok(summary.error_count() == 0 && complete == o.followers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_taken_whole_and_comments_skipped() {
        let mut buf = b"id: 0\ndata: {\"t\":1}\n\n: ping\n\nid: 1\ndata: {\"t\"".to_vec();
        let evs = take_events(&mut buf);
        assert_eq!(
            evs,
            vec![SseEvent {
                id: Some(0),
                data: "{\"t\":1}".into()
            }]
        );
        assert_eq!(buf, b"id: 1\ndata: {\"t\"");
        buf.extend_from_slice(b":2}\n\ndata: [DONE]\n\n");
        let evs = take_events(&mut buf);
        assert_eq!(evs.len(), 2);
        assert_eq!(
            evs[0],
            SseEvent {
                id: Some(1),
                data: "{\"t\":2}".into()
            }
        );
        assert_eq!(
            evs[1],
            SseEvent {
                id: None,
                data: "[DONE]".into()
            }
        );
        assert!(buf.is_empty());
    }
}
