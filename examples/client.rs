//! A client of the HTTP API: signs in as a guest, sends a message and prints the answer as it
//! streams. Start the server first (`cargo run --release --bin alleato`).
//!
//! `cargo run -p alleato-examples --example client -- [base-url] [message]`

use futures::StreamExt;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "http://127.0.0.1:8787".to_owned());
    let text = args.next().unwrap_or_else(|| "Hello from the Rust client".to_owned());
    let api = format!("{}/api/v1", base.trim_end_matches('/'));
    let http = reqwest::Client::new();

    let guest: Value = http
        .post(format!("{api}/auth/guest"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = guest["accessToken"].as_str().ok_or("no access token")?.to_owned();
    let chat: Value = http
        .post(format!("{api}/chats"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let chat_id = chat["chat"]["id"].as_str().ok_or("no chat id")?.to_owned();

    let body = json!({ "message": { "role": "user", "parts": [{ "type": "text", "text": text }] } });
    let res = http
        .post(format!("{api}/chats/{chat_id}/messages"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(format!("{}: {}", res.status(), res.text().await?).into());
    }
    // Server-Sent Events: blank-line separated events whose `data:` lines hold UI chunks.
    let mut bytes = res.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = bytes.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for data in event.lines().filter_map(|l| l.strip_prefix("data: ")) {
                if data == "[DONE]" {
                    println!();
                    return Ok(());
                }
                let chunk: Value = serde_json::from_str(data)?;
                match chunk["type"].as_str() {
                    Some("text-delta") => print!("{}", chunk["delta"].as_str().unwrap_or("")),
                    Some("error") => eprintln!("\nerror: {}", chunk["errorText"]),
                    _ => {}
                }
            }
        }
    }
    println!();
    Ok(())
}
