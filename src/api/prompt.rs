//! Prompts: a name, declared arguments, and a function from arguments to messages.

use super::content::GetPromptResult;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Arguments of a `prompts/get`, by name.
pub type PromptArgs = HashMap<String, String>;

type PromptFn = dyn Fn(&PromptArgs) -> Result<GetPromptResult, String> + Send + Sync;

/// One declared argument of a prompt.
#[derive(Debug, Clone, Serialize)]
pub struct PromptArgument {
    /// Its name.
    pub name: String,
    /// What it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether `prompts/get` must give it.
    pub required: bool,
}

/// A prompt, ready to register.
#[derive(Clone)]
pub struct Prompt {
    pub(crate) name: String,
    pub(crate) arguments: Vec<PromptArgument>,
    pub(crate) render: Arc<PromptFn>,
    pub(crate) descriptor_json: Vec<u8>,
}

#[derive(Serialize)]
struct Descriptor<'a> {
    name: &'a str,
    description: &'a str,
    arguments: &'a [PromptArgument],
}

impl Prompt {
    /// A prompt. `arguments` are `(name, description, required)`; `render` may fail with a
    /// message (answered as -32602).
    pub fn new(
        name: &str,
        description: &str,
        arguments: &[(&str, &str, bool)],
        render: impl Fn(&PromptArgs) -> Result<GetPromptResult, String> + Send + Sync + 'static,
    ) -> Prompt {
        let arguments: Vec<PromptArgument> = arguments
            .iter()
            .map(|(n, d, r)| PromptArgument { name: n.to_string(), description: Some(d.to_string()), required: *r })
            .collect();
        let descriptor_json = sonic_rs::to_vec(&Descriptor { name, description, arguments: &arguments })
            .expect("a descriptor always serializes");
        Prompt { name: name.to_string(), arguments, render: Arc::new(render), descriptor_json }
    }
}
