//! What the fake model answers: either the configured text or, when the
//! request offers tools and it is the user's turn, a call of the first tool.
//! Every API module renders this same decision in its own wire format.

use crate::tokens::completion_tokens;

/// Arguments the mock always passes to the tool it calls.
pub(crate) const TOOL_ARGUMENTS: &str = "{}";

/// The model's answer, independent of any wire format.
pub(crate) enum Reply {
    Text(String),
    ToolCall { name: String },
}

impl Reply {
    /// Picks a tool call when a tool name was offered for this turn, else text.
    pub(crate) fn choose(tool: Option<String>, text: &str) -> Reply {
        match tool {
            Some(name) => Reply::ToolCall { name },
            None => Reply::Text(text.to_owned()),
        }
    }

    /// Completion tokens: words of the text, or of `name arguments` for a call.
    pub(crate) fn completion_tokens(&self) -> u64 {
        match self {
            Reply::Text(text) => completion_tokens(text),
            Reply::ToolCall { name } => completion_tokens(&format!("{name} {TOOL_ARGUMENTS}")),
        }
    }
}
