//! Resources (static or dynamic, by exact URI) and resource templates (RFC 6570 level-1
//! `{var}` URIs, each variable matching one path segment).

use super::content::ResourceContents;
use crate::jsonrpc::RpcError;
use serde::Serialize;
use std::sync::Arc;

type ReadFn = dyn Fn(&str) -> Result<Vec<ResourceContents>, RpcError> + Send + Sync;
type TemplateFn = dyn Fn(&str, &[(String, String)]) -> Result<Vec<ResourceContents>, RpcError> + Send + Sync;

/// A resource with a fixed URI.
#[derive(Clone)]
pub struct Resource {
    pub(crate) uri: String,
    pub(crate) read: Arc<ReadFn>,
    pub(crate) descriptor_json: Vec<u8>,
}

#[derive(Serialize)]
struct Descriptor<'a> {
    #[serde(skip_serializing_if = "Option::is_none", rename = "uri")]
    uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "uriTemplate")]
    uri_template: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(rename = "mimeType", skip_serializing_if = "Option::is_none")]
    mime_type: Option<&'a str>,
}

impl Resource {
    /// A resource whose text never changes.
    pub fn text(uri: &str, name: &str, description: &str, mime_type: &str, text: &str) -> Resource {
        let contents = ResourceContents::text(uri, Some(mime_type), text);
        Resource::dynamic(uri, name, description, mime_type, move |_| Ok(vec![contents.clone()]))
    }

    /// A resource computed at each read.
    pub fn dynamic(
        uri: &str,
        name: &str,
        description: &str,
        mime_type: &str,
        read: impl Fn(&str) -> Result<Vec<ResourceContents>, RpcError> + Send + Sync + 'static,
    ) -> Resource {
        let d = Descriptor {
            uri: Some(uri),
            uri_template: None,
            name,
            description: Some(description),
            mime_type: Some(mime_type),
        };
        let descriptor_json = sonic_rs::to_vec(&d).expect("a descriptor always serializes");
        Resource { uri: uri.to_string(), read: Arc::new(read), descriptor_json }
    }
}

/// A family of resources named by a URI template such as `demo://items/{id}`.
#[derive(Clone)]
pub struct ResourceTemplate {
    pub(crate) uri_template: String,
    parts: Vec<Part>,
    pub(crate) read: Arc<TemplateFn>,
    pub(crate) descriptor_json: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Literal(String),
    Var(String),
}

impl ResourceTemplate {
    /// A template; `read` gets the URI and its variables in template order.
    pub fn new(
        uri_template: &str,
        name: &str,
        description: &str,
        mime_type: &str,
        read: impl Fn(&str, &[(String, String)]) -> Result<Vec<ResourceContents>, RpcError> + Send + Sync + 'static,
    ) -> ResourceTemplate {
        let d = Descriptor {
            uri: None,
            uri_template: Some(uri_template),
            name,
            description: Some(description),
            mime_type: Some(mime_type),
        };
        let descriptor_json = sonic_rs::to_vec(&d).expect("a descriptor always serializes");
        ResourceTemplate {
            uri_template: uri_template.into(),
            parts: parse_template(uri_template),
            read: Arc::new(read),
            descriptor_json,
        }
    }

    /// The variables if `uri` matches this template (each variable is one non-empty segment
    /// without `/`), else `None`.
    pub fn matches(&self, uri: &str) -> Option<Vec<(String, String)>> {
        let mut rest = uri;
        let mut vars = Vec::new();
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(lit) => rest = rest.strip_prefix(lit.as_str())?,
                Part::Var(name) => {
                    let end = match self.parts.get(i + 1) {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let value = &rest[..end];
                    if value.is_empty() || value.contains('/') {
                        return None;
                    }
                    vars.push((name.clone(), value.to_string()));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(vars)
    }
}

fn parse_template(t: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_string()));
        }
        parts.push(Part::Var(rest[open + 1..open + close].to_string()));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_string()));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(template: &str) -> ResourceTemplate {
        ResourceTemplate::new(template, "n", "d", "text/plain", |_, _| Ok(vec![]))
    }

    #[test]
    fn template_variables_match_one_segment() {
        let tpl = t("demo://items/{id}/v{version}");
        assert_eq!(
            tpl.matches("demo://items/42/v3").unwrap(),
            vec![("id".into(), "42".into()), ("version".into(), "3".into())]
        );
        assert!(tpl.matches("demo://items/4/2/v3").is_none());
        assert!(tpl.matches("demo://items//v3").is_none());
        assert!(tpl.matches("demo://other/42/v3").is_none());
    }
}
