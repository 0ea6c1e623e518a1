//! A bare HTTP/1.1 client: one hyper connection per task, no pool, no redirects, no
//! decompression, so that the driver spends as little of the shared CPU as it can.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::Error;

/// Where the server is: its socket address and the `Host` header to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resolved loopback address.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: HeaderValue,
}

impl Target {
    /// Parses `http://host:port` and resolves it. Only loopback addresses are accepted: this
    /// driver generates load, and load may only ever be aimed at this machine.
    pub async fn parse(base_url: &str) -> Result<Self, Error> {
        let uri: hyper::Uri = base_url.parse().map_err(|e| format!("--base-url {base_url:?}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("--base-url {base_url:?}: only http:// is supported").into());
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--base-url {base_url:?} has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await?
            .next()
            .ok_or_else(|| format!("{} does not resolve", authority.host()))?;
        if !addr.ip().is_loopback() {
            return Err(
                format!("{addr} is not a loopback address: this driver only loads 127.0.0.0/8 or [::1]").into(),
            );
        }
        Ok(Self {
            addr,
            host: HeaderValue::from_str(authority.as_str())?,
        })
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    /// Opens a connection; its I/O is driven by a task of its own.
    pub async fn open(target: &Target) -> Result<Self, Error> {
        let stream = tokio::net::TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::Builder::new().handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            host: target.host.clone(),
        })
    }

    /// Opens a connection, retrying for a while when the server is not up yet or its accept
    /// queue is full.
    pub async fn open_retrying(target: &Target, patience: Duration) -> Result<Self, Error> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match Self::open(target).await {
                Ok(c) => return Ok(c),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Whether the connection can take another request.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// A request with `Host`, and `Authorization` when a token is given.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&HeaderValue>,
        body: Option<Bytes>,
    ) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(t) = token {
            b = b.header(AUTHORIZATION, t.clone());
        }
        let body = match body {
            Some(bytes) => {
                b = b.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                bytes
            }
            None => Bytes::new(),
        };
        b.body(Full::new(body)).expect("requests built from valid parts")
    }

    /// Sends a request and returns the response head, with the body still to be read.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Response<Incoming>, Error> {
        self.sender.ready().await?;
        Ok(self.sender.send_request(req).await?)
    }

    /// Sends a request and reads the whole body.
    pub async fn fetch(&mut self, req: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), Error> {
        let res = self.send(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends JSON (or nothing) and expects `want` with a JSON body.
    pub async fn json(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&HeaderValue>,
        body: Option<&Value>,
        want: StatusCode,
    ) -> Result<Value, Error> {
        let body = body.map(|v| Bytes::from(serde_json::to_vec(v).expect("JSON values serialise")));
        let req = self.request(method.clone(), path, token, body);
        let (status, bytes) = self.fetch(req).await?;
        if status != want {
            return Err(format!("{method} {path}: {status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// Whether `needle` occurs in `hay` at or after `from` (clamped so that a match straddling two
/// reads is still found).
pub fn find_from(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let start = from.saturating_sub(needle.len() - 1).min(hay.len());
    hay[start..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + start)
}

#[cfg(test)]
mod tests {
    use super::find_from;

    #[test]
    fn finds_a_needle_split_across_reads() {
        let hay = b"data: {\"type\":\"text-delta\"}";
        assert_eq!(find_from(hay, 0, b"text-delta"), Some(15));
        // The first read ended inside the needle; the search restarts before it.
        assert_eq!(find_from(hay, 20, b"text-delta"), Some(15));
        assert_eq!(find_from(hay, 26, b"finish"), None);
        assert_eq!(find_from(b"ab", 5, b"abc"), None);
    }
}
