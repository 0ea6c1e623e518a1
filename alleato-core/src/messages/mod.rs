//! Messages, votes, usage and the main job: sending a message and streaming the answer.

mod answer_cache;
mod error;
mod generation;
mod history;
mod model;
mod port;
mod quota;
mod send;
mod service;
#[cfg(test)]
mod tests;
pub mod ui_stream;

pub use error::MessageError;
pub use history::ExportFormat;
pub use model::{
    DailyUsage, Message, MessageListQuery, MessageStatus, Part, QuotaCharge, Role, Turn, Vote, VoteKind,
    parse_user_parts, parts_from_json, parts_to_json,
};
pub use port::{MessageStore, UsageStore};
pub use send::{Generation, SendInput, Trigger, title_from};
pub use service::{MessageConfig, MessagePorts, MessageService, QuotaConfig};
