//! Prompts: a name, declared arguments, and a function from arguments to messages.

use super::content::GetPromptResult;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Arguments of a `prompts/get`, by name.
pub type PromptArgs = HashMap<String, String>;

type PromptFn = dyn Fn(&PromptArgs, &Asker<'_>) -> Result<GetPromptResult, String> + Send + Sync;

/// How a prompt made with [`Prompt::asking`] asks its client for input (2026-07-28 multi
/// round-trip requests).
pub struct Asker<'a>(pub(crate) Option<&'a crate::mcp::input::InputRound>);

impl Asker<'_> {
    /// The client's answer to the input request `key` (`method`: `elicitation/create`,
    /// `sampling/createMessage` or `roots/list`, with `params_json`): the raw JSON of its
    /// result, or `None` — then the request is answered `resultType: "input_required"` asking
    /// for it (whatever the render returns), and rendered again when the client retries with
    /// the answer. Always `None` for a 2025-11-25 session, which cannot be asked during
    /// `prompts/get`: the prompt then fails with -32602 naming the missing input.
    pub fn ask(&self, key: &str, method: &str, params_json: &str) -> Option<String> {
        self.0?.ask(key, method, params_json).ok().flatten()
    }
}

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
    description: String,
    title: Option<String>,
    pub(crate) descriptor_json: Vec<u8>,
}

#[derive(Serialize)]
struct Descriptor<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
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
        let mut prompt = Prompt {
            name: name.to_string(),
            arguments,
            render: Arc::new(move |args: &PromptArgs, _: &Asker<'_>| render(args)),
            description: description.to_string(),
            title: None,
            descriptor_json: Vec::new(),
        };
        prompt.descriptor_json = prompt.descriptor();
        prompt
    }

    /// A prompt that may ask its client for input while it renders (see [`Asker::ask`]).
    pub fn asking(
        name: &str,
        description: &str,
        arguments: &[(&str, &str, bool)],
        render: impl Fn(&PromptArgs, &Asker<'_>) -> Result<GetPromptResult, String> + Send + Sync + 'static,
    ) -> Prompt {
        let mut prompt = Prompt::new(name, description, arguments, |_| Err(String::new()));
        prompt.render = Arc::new(render);
        prompt
    }

    /// A human-friendly title for `prompts/list` (the `name` stays the identifier).
    pub fn title(mut self, title: &str) -> Prompt {
        self.title = Some(title.to_string());
        self.descriptor_json = self.descriptor();
        self
    }

    fn descriptor(&self) -> Vec<u8> {
        let d = Descriptor {
            name: &self.name,
            title: self.title.as_deref(),
            description: &self.description,
            arguments: &self.arguments,
        };
        sonic_rs::to_vec(&d).expect("a descriptor always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_listed_after_the_name_only_when_set() {
        let render = |_: &PromptArgs| Err("unused".to_string());
        let p = Prompt::new("p", "does p", &[("a", "an a", true)], render);
        let plain =
            r#"{"name":"p","description":"does p","arguments":[{"name":"a","description":"an a","required":true}]}"#;
        assert_eq!(String::from_utf8(p.descriptor_json.clone()).unwrap(), plain);
        let titled = String::from_utf8(p.title("P").descriptor_json).unwrap();
        assert_eq!(titled, plain.replace(r#""name":"p","#, r#""name":"p","title":"P","#));
    }
}
