#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod api;
pub mod assertions;
pub mod jwt;
pub mod provider;
pub mod server;
pub mod sse;
pub mod ui_stream;

pub use api::{Api, Fetch, PASSWORD, Resp, TestUser};
pub use assertions::{
    assert_chat, assert_keys, assert_no_password_fields, assert_problem, assert_session_response, assert_timestamp,
    assert_tokens, assert_user, assert_uuid, assert_validation_failed,
};
pub use server::{ALLOWED_ORIGIN, BinaryRun, Capabilities, Capability, OwnServer, Runtime, TEST_JWT_SECRET};
