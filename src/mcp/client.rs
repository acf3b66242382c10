//! What the protocol core knows of a client: the capabilities it declared, and how a request
//! to it (elicitation, sampling, roots) can fail. Shared by both eras' ways of asking.

use std::fmt;

/// The client's answer to a server-to-client request: the raw JSON of `result`, or the error.
pub type ClientAnswer = Result<String, ClientError>;

/// A server-to-client request that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The client answered with a JSON-RPC error (its raw `error` object).
    Rejected(String),
    /// No answer within the timeout.
    Timeout,
    /// The session ended first.
    Closed,
    /// The client did not declare the capability this request needs.
    Unsupported(&'static str),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Rejected(e) => write!(f, "the client answered with an error: {e}"),
            ClientError::Timeout => f.write_str("the client did not answer in time"),
            ClientError::Closed => f.write_str("the session ended before the client answered"),
            ClientError::Unsupported(cap) => write!(f, "the client did not declare the {cap} capability"),
        }
    }
}

/// What the client declared at `initialize`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientCaps {
    /// `sampling/createMessage` may be sent.
    pub sampling: bool,
    /// `elicitation/create` may be sent.
    pub elicitation: bool,
    /// `roots/list` may be sent.
    pub roots: bool,
    /// The tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28): a call may be
    /// answered with a task.
    pub tasks: bool,
}
