//! A tiny fake OpenAI-compatible upstream: `POST …/chat/completions` answers at once with a
//! fixed streamed completion, whatever was asked. It serves on a thread of its own so that
//! its work is not interleaved with the driver's measurements.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::Error;

/// The answer's text pieces, one chunk each.
pub const ANSWER: [&str; 5] = ["Hello", " from", " the", " fake", " upstream."];

/// Flags of `fake-upstream`.
#[derive(Args, Debug)]
pub struct Options {
    /// Where to listen (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// How long to serve before exiting.
    #[arg(long = "for", default_value = "600s", value_parser = crate::parse_duration)]
    pub serve_for: Duration,
}

/// The streamed completion, as one body: the role, the pieces, the finish, the usage, `[DONE]`.
pub fn completion_body() -> Bytes {
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"fake\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let mut body = chunk(r#"{"role":"assistant","content":""}"#, "null");
    for piece in ANSWER {
        body.push_str(&chunk(&serde_json::json!({ "content": piece }).to_string(), "null"));
    }
    body.push_str(&chunk("{}", "\"stop\""));
    body.push_str("data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"fake\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":5,\"total_tokens\":10}}\n\n");
    body.push_str("data: [DONE]\n\n");
    Bytes::from(body)
}

async fn answer(req: Request<Incoming>, body: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    let completions = req.method() == Method::POST && req.uri().path().ends_with("/chat/completions");
    // Read the request whole, as a real provider would, so the connection stays reusable.
    let _ = req.into_body().collect().await;
    let mut res = if completions {
        Response::new(Full::new(body))
    } else {
        let mut r = Response::new(Full::new(Bytes::from_static(
            b"{\"error\":{\"message\":\"not found\"}}",
        )));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    };
    let ct = if completions {
        "text/event-stream"
    } else {
        "application/json"
    };
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(res)
}

async fn serve(listener: tokio::net::TcpListener) {
    let body = completion_body();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| answer(req, body.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Binds `listen` (loopback only) and serves on a thread of its own for the rest of the
/// process's life; returns the bound address.
pub fn spawn(listen: SocketAddr) -> Result<SocketAddr, Error> {
    if !listen.ip().is_loopback() {
        return Err(format!("the fake upstream listens on loopback only, not {listen}").into());
    }
    let std_listener = std::net::TcpListener::bind(listen)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    std::thread::Builder::new()
        .name("fake-upstream".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => serve(l).await,
                    Err(e) => eprintln!("fake upstream: {e}"),
                }
            });
        })?;
    Ok(addr)
}

/// `fake-upstream`: serves until the time is up.
pub async fn serve_for(o: Options) -> Result<bool, Error> {
    let addr = spawn(o.listen)?;
    println!("http://{addr}/v1");
    tokio::time::sleep(o.serve_for).await;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_completion_is_well_formed_sse() {
        let body = completion_body();
        let text = std::str::from_utf8(&body).unwrap();
        let datas: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
        assert_eq!(datas.last(), Some(&"[DONE]"));
        let content: String = datas[..datas.len() - 1]
            .iter()
            .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap())
            .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(content, ANSWER.concat());
    }
}
