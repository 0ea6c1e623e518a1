//! The AI SDK's UI message stream protocol: the chunks a generation appends to its stream log
//! and clients receive as SSE `data:` payloads. Exactly these shapes, with no extra fields,
//! since older AI SDK clients reject unknown ones.

use serde::{Deserialize, Serialize};

use crate::llm::Usage;

/// The id of the one text block of an answer.
pub const TEXT_ID: &str = "0";

/// One chunk of the UI message stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum UiChunk {
    /// The answer begins; names the assistant message.
    Start {
        /// The assistant message's id.
        #[serde(rename = "messageId")]
        message_id: String,
    },
    /// A model step begins.
    StartStep,
    /// A text block begins.
    TextStart {
        /// The block's id.
        id: String,
    },
    /// More text.
    TextDelta {
        /// The block's id.
        id: String,
        /// The new text.
        delta: String,
    },
    /// The text block is complete.
    TextEnd {
        /// The block's id.
        id: String,
    },
    /// The step is complete.
    FinishStep,
    /// The model and token usage.
    MessageMetadata {
        /// `{model, usage: {inputTokens, outputTokens}}`.
        #[serde(rename = "messageMetadata")]
        message_metadata: Metadata,
    },
    /// The answer is complete.
    Finish,
    /// The generation failed; the stream ends.
    Error {
        /// What went wrong, for the user.
        #[serde(rename = "errorText")]
        error_text: String,
    },
}

/// The metadata sent at the end of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The model that answered.
    pub model: String,
    /// Tokens used.
    pub usage: UsageMetadata,
}

/// Token usage in the AI SDK's naming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
}

impl From<Usage> for UsageMetadata {
    fn from(u: Usage) -> Self {
        Self {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
        }
    }
}

impl UiChunk {
    /// The chunk as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("UI chunks serialise")
    }

    /// The text of a `text-delta` chunk's JSON, or `None` for any other chunk.
    pub fn delta_of(json: &str) -> Option<String> {
        match serde_json::from_str::<UiChunk>(json) {
            Ok(UiChunk::TextDelta { delta, .. }) => Some(delta),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_have_exactly_the_protocol_shapes() {
        let cases = [
            (
                UiChunk::Start {
                    message_id: "m1".into(),
                },
                r#"{"type":"start","messageId":"m1"}"#,
            ),
            (UiChunk::StartStep, r#"{"type":"start-step"}"#),
            (
                UiChunk::TextStart { id: "0".into() },
                r#"{"type":"text-start","id":"0"}"#,
            ),
            (
                UiChunk::TextDelta {
                    id: "0".into(),
                    delta: "Hi".into(),
                },
                r#"{"type":"text-delta","id":"0","delta":"Hi"}"#,
            ),
            (UiChunk::TextEnd { id: "0".into() }, r#"{"type":"text-end","id":"0"}"#),
            (UiChunk::FinishStep, r#"{"type":"finish-step"}"#),
            (
                UiChunk::MessageMetadata {
                    message_metadata: Metadata {
                        model: "echo".into(),
                        usage: UsageMetadata {
                            input_tokens: 3,
                            output_tokens: 10,
                        },
                    },
                },
                r#"{"type":"message-metadata","messageMetadata":{"model":"echo","usage":{"inputTokens":3,"outputTokens":10}}}"#,
            ),
            (UiChunk::Finish, r#"{"type":"finish"}"#),
            (
                UiChunk::Error {
                    error_text: "boom".into(),
                },
                r#"{"type":"error","errorText":"boom"}"#,
            ),
        ];
        for (chunk, json) in cases {
            assert_eq!(chunk.to_json(), json);
        }
        assert_eq!(
            UiChunk::delta_of(r#"{"type":"text-delta","id":"0","delta":"Hi"}"#).as_deref(),
            Some("Hi")
        );
        assert_eq!(UiChunk::delta_of(r#"{"type":"finish"}"#), None);
    }
}
