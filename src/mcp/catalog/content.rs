//! MCP result types that handlers build: content blocks, tool results, resource contents,
//! prompt messages. They serialize to the 2025-11-25 schema's field names.

use serde::Serialize;

/// One content block of a tool result or prompt message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, base64-encoded.
    Image {
        /// Base64 data.
        data: String,
        /// e.g. `image/png`.
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    /// Audio, base64-encoded.
    Audio {
        /// Base64 data.
        data: String,
        /// e.g. `audio/wav`.
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    /// A link to a resource the client may read.
    ResourceLink {
        /// The resource's URI.
        uri: String,
        /// The resource's name.
        name: String,
        /// Optional MIME type.
        #[serde(rename = "mimeType", skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
    },
    /// A resource embedded in the result.
    Resource {
        /// Its contents.
        resource: ResourceContents,
    },
}

impl Content {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Content {
        Content::Text { text: text.into() }
    }

    /// An image block: `data` is the base64 of the image (not checked), `mime_type` e.g.
    /// `image/png`.
    pub fn image(data: impl Into<String>, mime_type: impl Into<String>) -> Content {
        Content::Image { data: data.into(), mime_type: mime_type.into() }
    }

    /// An audio block: `data` is the base64 of the audio (not checked), `mime_type` e.g.
    /// `audio/wav`.
    pub fn audio(data: impl Into<String>, mime_type: impl Into<String>) -> Content {
        Content::Audio { data: data.into(), mime_type: mime_type.into() }
    }

    /// An embedded resource block.
    pub fn resource(resource: ResourceContents) -> Content {
        Content::Resource { resource }
    }
}

/// The contents of one resource: text or a base64 blob.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// Optional MIME type.
    #[serde(rename = "mimeType", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Text contents (exactly one of `text` and `blob` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Base64 contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

impl ResourceContents {
    /// Text contents.
    pub fn text(uri: impl Into<String>, mime_type: Option<&str>, text: impl Into<String>) -> Self {
        ResourceContents {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_string),
            text: Some(text.into()),
            blob: None,
        }
    }

    /// Binary contents: `base64` is the base64 of the bytes (not checked; clients decode it).
    pub fn blob(uri: impl Into<String>, mime_type: Option<&str>, base64: impl Into<String>) -> Self {
        ResourceContents {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_string),
            text: None,
            blob: Some(base64.into()),
        }
    }
}

/// The result of `tools/call`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallToolResult {
    /// Content blocks (for structured results, also the JSON as a text block).
    pub content: Vec<Content>,
    /// Structured result, for tools that declare an output schema.
    #[serde(rename = "structuredContent", skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<sonic_rs::Value>,
    /// True when the tool itself failed (the call was still valid).
    #[serde(rename = "isError", skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl CallToolResult {
    /// A result of one text block.
    pub fn text(text: impl Into<String>) -> Self {
        CallToolResult { content: vec![Content::text(text)], structured_content: None, is_error: false }
    }

    /// A structured result from any serializable value (a `sonic_rs::Value`, a struct, a map);
    /// its JSON text is also given as a text block for older clients.
    ///
    /// A value holding a non-finite number (NaN, ±infinity), which JSON cannot carry and
    /// serializers write as `null`, becomes a tool error (`isError: true`) naming it instead.
    /// (A `sonic_rs::Value` has already turned such a number into `null` when it was built:
    /// pass the numbers themselves, as a struct or map, to have them checked.)
    pub fn structured<T: serde::Serialize + ?Sized>(value: &T) -> Self {
        if let Err(e) = super::finite::check(value) {
            return CallToolResult::error(format!("the tool's result cannot be sent: it holds {e}"));
        }
        match sonic_rs::to_value(value) {
            Ok(value) => {
                let text = sonic_rs::to_string(&value).expect("a Value always serializes");
                CallToolResult { content: vec![Content::text(text)], structured_content: Some(value), is_error: false }
            }
            Err(e) => CallToolResult::error(format!("the tool's result cannot be sent: {e}")),
        }
    }

    /// A tool failure reported to the model (`isError: true`).
    pub fn error(message: impl Into<String>) -> Self {
        CallToolResult { is_error: true, ..CallToolResult::text(message) }
    }
}

/// Who speaks a prompt message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user.
    User,
    /// The assistant.
    Assistant,
}

/// One message of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptMessage {
    /// Who speaks it.
    pub role: Role,
    /// What is said.
    pub content: Content,
}

/// The result of `prompts/get`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GetPromptResult {
    /// Optional description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The messages.
    pub messages: Vec<PromptMessage>,
}
