//! A fake OpenAI-compatible provider on a real socket, for the servers under test to call:
//! it records each chat-completion request and answers as the last user message asks.
//!
//! - by default: a streamed answer of [`PROVIDER_DELTAS`], then usage (7 in, 3 out) and `[DONE]`;
//! - a message containing `[[provider:401]]`: `401` with an OpenAI error body that repeats the
//!   API key (a server must not show it);
//! - a message containing `[[provider:cut]]`: the first two deltas, then the connection closes.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The text deltas of a default answer.
pub const PROVIDER_DELTAS: [&str; 3] = ["Hello", " from the", " provider"];

/// One request the provider received.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    /// The request line's method and path, e.g. `POST /v1/chat/completions`.
    pub line: String,
    /// The `Authorization` header, when sent.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: Value,
}

/// The fake provider, served until dropped.
pub struct FakeProvider {
    /// `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    requests: Arc<Mutex<Vec<ProviderRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeProvider {
    /// Starts the provider on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake provider");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("its address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, seen.clone()));
            }
        });
        Self {
            base_url,
            requests,
            task,
        }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<ProviderRequest> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn serve(mut socket: TcpStream, seen: Arc<Mutex<Vec<ProviderRequest>>>) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    let last_user = request.body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    seen.lock().unwrap_or_else(|e| e.into_inner()).push(request.clone());
    let key = request
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    if last_user.contains("[[provider:401]]") {
        let body = json!({"error": {"message": format!("Incorrect API key provided: {key}"), "type": "invalid_request_error"}})
            .to_string();
        let head = format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = socket.write_all(format!("{head}{body}").as_bytes()).await;
        return;
    }
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let cut = last_user.contains("[[provider:cut]]");
    let mut events = vec![
        ": keep-alive\n\n".to_owned(),
        chunk(&json!({"role": "assistant", "content": ""}), None),
    ];
    let deltas = if cut {
        &PROVIDER_DELTAS[..2]
    } else {
        &PROVIDER_DELTAS[..]
    };
    events.extend(deltas.iter().map(|d| chunk(&json!({"content": d}), None)));
    if !cut {
        events.push(chunk(&json!({}), Some("stop")));
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}});
        events.push(format!("data: {usage}\n\n"));
        events.push("data: [DONE]\n\n".to_owned());
    }
    for event in events {
        if socket.write_all(event.as_bytes()).await.is_err() || socket.flush().await.is_err() {
            return;
        }
    }
    let _ = socket.shutdown().await;
}

fn chunk(delta: &Value, finish_reason: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    format!("data: {chunk}\n\n")
}

/// The request's head and its `Content-Length` body.
async fn read_request(socket: &mut TcpStream) -> Option<ProviderRequest> {
    let mut buffer = Vec::new();
    let mut piece = [0_u8; 4096];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut piece).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&piece[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next()?.rsplit_once(' ')?.0.to_owned();
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length")?.parse().ok()?;
    while buffer.len() < head_end + length {
        let n = socket.read(&mut piece).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&piece[..n]);
    }
    Some(ProviderRequest {
        line,
        authorization: header("authorization"),
        body: serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap_or(Value::Null),
    })
}
