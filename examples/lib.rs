//! Examples of Alleato; see `embed.rs` and `client.rs` and run them with
//! `cargo run -p alleato-examples --example <name>`.
