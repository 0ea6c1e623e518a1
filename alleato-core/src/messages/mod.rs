//! Messages, votes, usage and the main job: sending a message and streaming the answer.

mod model;
mod port;
mod service;
#[cfg(test)]
mod tests;
pub mod ui_stream;

pub use model::{
    DailyUsage, Message, MessageListQuery, MessageStatus, Part, QuotaCharge, Role, Turn, Vote, VoteKind,
    parse_user_parts, parts_from_json, parts_to_json,
};
pub use port::{MessageStore, Spawner, Task, UsageStore};
pub use service::{
    ExportFormat, Generation, MessageConfig, MessageError, MessagePorts, MessageService, QuotaConfig, SendInput,
    Trigger, title_from,
};
