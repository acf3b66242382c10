//! Completions: suggested values for an argument of a prompt or of a resource template.

use std::collections::HashMap;
use std::sync::Arc;

/// What a completion is for (the `ref` of `completion/complete`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CompletionRef {
    /// `{"type": "ref/prompt", "name": …}`.
    Prompt(String),
    /// `{"type": "ref/resource", "uri": …}` (a URI template).
    Resource(String),
}

type CompleteFn = dyn Fn(&str, &HashMap<String, String>) -> Vec<String> + Send + Sync;

/// A completion provider for one argument.
#[derive(Clone)]
pub struct Completion {
    pub(crate) target: CompletionRef,
    pub(crate) argument: String,
    pub(crate) complete: Arc<CompleteFn>,
}

impl Completion {
    /// A provider: gets the partial value and the other arguments already given.
    pub fn new(
        target: CompletionRef,
        argument: &str,
        complete: impl Fn(&str, &HashMap<String, String>) -> Vec<String> + Send + Sync + 'static,
    ) -> Completion {
        Completion { target, argument: argument.to_string(), complete: Arc::new(complete) }
    }

    /// A provider over a fixed list: the values that start with what was typed.
    pub fn values(target: CompletionRef, argument: &str, values: &[&str]) -> Completion {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        Completion::new(target, argument, move |partial, _| {
            values.iter().filter(|v| v.starts_with(partial)).cloned().collect()
        })
    }
}
