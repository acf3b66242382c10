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
    /// Its `resources/read` caching hints, if not the server's (2026-07-28).
    pub(crate) cache: Option<super::CacheHint>,
    pub(crate) read: Arc<ReadFn>,
    descriptor: Descriptor,
    pub(crate) descriptor_json: Vec<u8>,
}

/// A resource's or template's entry in its list method.
#[derive(Clone, Serialize)]
struct Descriptor {
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "uriTemplate")]
    uri_template: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(rename = "mimeType", skip_serializing_if = "Option::is_none")]
    mime_type: Option<String>,
}

impl Descriptor {
    fn new(uri: Option<&str>, uri_template: Option<&str>, name: &str, description: &str, mime_type: &str) -> Self {
        Descriptor {
            uri: uri.map(str::to_string),
            uri_template: uri_template.map(str::to_string),
            name: name.to_string(),
            title: None,
            description: Some(description.to_string()),
            mime_type: Some(mime_type.to_string()),
        }
    }

    fn to_json(&self) -> Vec<u8> {
        sonic_rs::to_vec(self).expect("a descriptor always serializes")
    }
}

impl Resource {
    /// A resource whose text never changes.
    pub fn text(uri: &str, name: &str, description: &str, mime_type: &str, text: &str) -> Resource {
        let contents = ResourceContents::text(uri, Some(mime_type), text);
        Resource::dynamic(uri, name, description, mime_type, move |_| Ok(vec![contents.clone()]))
    }

    /// A resource whose bytes never change, given as their base64 (served as `blob`, not
    /// checked here).
    pub fn blob(uri: &str, name: &str, description: &str, mime_type: &str, base64: &str) -> Resource {
        let contents = ResourceContents::blob(uri, Some(mime_type), base64);
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
        let descriptor = Descriptor::new(Some(uri), None, name, description, mime_type);
        let descriptor_json = descriptor.to_json();
        Resource { uri: uri.to_string(), cache: None, read: Arc::new(read), descriptor, descriptor_json }
    }

    /// A human-friendly title for `resources/list` (the `name` stays the identifier).
    pub fn title(mut self, title: &str) -> Resource {
        self.descriptor.title = Some(title.to_string());
        self.descriptor_json = self.descriptor.to_json();
        self
    }

    /// Its `resources/read` caching hints for 2026-07-28 clients (default: the server's
    /// [`read_cache`](super::ServerBuilder::read_cache)).
    pub fn cache(mut self, hint: super::CacheHint) -> Resource {
        self.cache = Some(hint);
        self
    }
}

/// A family of resources named by a URI template such as `demo://items/{id}`.
#[derive(Clone)]
pub struct ResourceTemplate {
    pub(crate) uri_template: String,
    parts: Vec<Part>,
    pub(crate) read: Arc<TemplateFn>,
    descriptor: Descriptor,
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
        let descriptor = Descriptor::new(None, Some(uri_template), name, description, mime_type);
        let descriptor_json = descriptor.to_json();
        ResourceTemplate {
            uri_template: uri_template.into(),
            parts: parse_template(uri_template),
            read: Arc::new(read),
            descriptor,
            descriptor_json,
        }
    }

    /// A human-friendly title for `resources/templates/list`.
    pub fn title(mut self, title: &str) -> ResourceTemplate {
        self.descriptor.title = Some(title.to_string());
        self.descriptor_json = self.descriptor.to_json();
        self
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
    fn titles_and_blobs_are_listed_and_read() {
        let r = Resource::blob("x://b", "b", "bytes", "image/png", "AAEC").title("Bytes");
        assert_eq!(
            String::from_utf8(r.descriptor_json.clone()).unwrap(),
            r#"{"uri":"x://b","name":"b","title":"Bytes","description":"bytes","mimeType":"image/png"}"#
        );
        let contents = sonic_rs::to_string(&(r.read)("x://b").unwrap()).unwrap();
        assert_eq!(contents, r#"[{"uri":"x://b","mimeType":"image/png","blob":"AAEC"}]"#);
        let untitled = String::from_utf8(t("x://{id}").descriptor_json).unwrap();
        assert_eq!(untitled, r#"{"uriTemplate":"x://{id}","name":"n","description":"d","mimeType":"text/plain"}"#);
        let titled = String::from_utf8(t("x://{id}").title("T").descriptor_json).unwrap();
        assert_eq!(
            titled,
            r#"{"uriTemplate":"x://{id}","name":"n","title":"T","description":"d","mimeType":"text/plain"}"#
        );
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
