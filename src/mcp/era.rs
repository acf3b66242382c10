//! The two eras of MCP on one endpoint. A request whose `params._meta` carries the
//! 2026-07-28 fields (`io.modelcontextprotocol/protocolVersion`, `.../clientCapabilities`) is
//! served statelessly under 2026-07-28 rules; anything else is the 2025-11-25 (and older)
//! session era, which begins with `initialize`.
//!
//! Reading the era costs one substring search of the params for requests of the old era (no
//! `io.modelcontextprotocol/` in them) and one lazy read of `_meta` for modern ones.

use super::logging_set_level::LEVELS;
use super::peer::ClientCaps;
use crate::jsonrpc::{code, RpcError};
use crate::scan;
use serde::Deserialize;
use sonic_rs::JsonValueTrait;
use std::borrow::Cow;

/// The modern protocol version, served without sessions.
pub const MODERN_VERSION: &str = "2026-07-28";
/// Modern versions this server speaks (what `server/discover` and -32022 list).
pub const MODERN_VERSIONS: [&str; 1] = [MODERN_VERSION];

/// What a modern request says about its client in `_meta`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Modern {
    /// What the client can be asked for (input requests are only made of these).
    pub caps: ClientCaps,
    /// Index in [`LEVELS`] of the lowest log level the client wants for this request; `None`:
    /// no `notifications/message` at all.
    pub log_level: Option<usize>,
}

/// `io.modelcontextprotocol/…` keys of `_meta`.
const PREFIX: &[u8] = b"io.modelcontextprotocol/";

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(rename = "_meta", borrow, default)]
    meta: Option<Meta<'a>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
    version: Option<Cow<'a, str>>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", default)]
    caps: Option<Caps>,
    #[serde(rename = "io.modelcontextprotocol/logLevel", borrow, default)]
    log_level: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Caps {
    sampling: Option<serde::de::IgnoredAny>,
    elicitation: Option<serde::de::IgnoredAny>,
    roots: Option<serde::de::IgnoredAny>,
    extensions: Option<Extensions>,
}

#[derive(Deserialize)]
struct Extensions {
    #[serde(rename = "io.modelcontextprotocol/tasks")]
    tasks: Option<serde::de::IgnoredAny>,
}

/// Whether `params` may carry modern `_meta` (cheap: no `io.modelcontextprotocol/` in them →
/// an old-era request).
pub fn looks_modern(params: Option<&str>) -> bool {
    // Built once: making a searcher per request cost the session era ~10 % of its throughput.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(PREFIX));
    params.is_some_and(|p| p.len() >= PREFIX.len() && FINDER.find(p.as_bytes()).is_some())
}

/// Reads the era of a request. `modern_hint`: the transport already knows the client speaks
/// the modern era (Streamable HTTP with a modern `MCP-Protocol-Version`), so missing `_meta`
/// is an error rather than the old era. `Ok(None)`: the old era.
pub fn read(params: Option<&str>, modern_hint: bool) -> Result<Option<Modern>, RpcError> {
    if !modern_hint && !looks_modern(params) {
        return Ok(None);
    }
    read_from(params, None, modern_hint)
}

/// [`read`] of params whose `_meta` object (`meta`, raw text) a method's own scan found
/// already (saving a scan of the params); `None`: the params have no object `_meta`.
pub fn read_found(meta: Option<&str>, modern_hint: bool) -> Result<Option<Modern>, RpcError> {
    read_from(None, Some(meta), modern_hint)
}

/// `found`: `_meta` as found by the caller (`Some(None)`: absent); else looked up in `params`.
fn read_from<'a>(
    params: Option<&'a str>,
    found: Option<Option<&'a str>>,
    modern_hint: bool,
) -> Result<Option<Modern>, RpcError> {
    let text = params.unwrap_or("{}");
    // Only `_meta` is read (found by the scanner): parsing the whole params, arguments and
    // all, cost the modern era a third of its throughput. Keys with escapes, which the
    // scanner declines, take the full parse.
    let parsed = match found {
        Some(Some(meta)) => read_meta(meta),
        Some(None) => Ok(None),
        None => match scan::get(text, b"_meta") {
            Some(m) if m.kind == scan::Kind::Object => read_meta(scan::span_str(text, m.value)),
            None if !text.contains('\\') => Ok(None),
            _ => sonic_rs::from_str::<Params<'_>>(text).map(|p| p.meta.map(Fields::from)),
        },
    };
    let meta = match parsed {
        Ok(meta) => meta,
        Err(_) if !modern_hint => return Ok(None),
        Err(e) => {
            return Err(RpcError::invalid_params(format!("Invalid params: {}", super::first_line(&e.to_string()))))
        }
    };
    let Some(meta) = meta.filter(|m| m.version.is_some() || m.caps.is_some()) else {
        return match modern_hint {
            true => Err(missing(
                "_meta with io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities",
            )),
            false => Ok(None),
        };
    };
    let Some(version) = meta.version else { return Err(missing("_meta.io.modelcontextprotocol/protocolVersion")) };
    let Some(caps) = meta.caps else { return Err(missing("_meta.io.modelcontextprotocol/clientCapabilities")) };
    if !MODERN_VERSIONS.contains(&version.as_ref()) {
        return Err(unsupported_version(&version));
    }
    let log_level = match meta.log_level {
        None => None,
        Some(level) => match LEVELS.iter().position(|l| *l == level) {
            Some(i) => Some(i),
            None => {
                return Err(RpcError::invalid_params(format!(
                    "Invalid params: _meta.io.modelcontextprotocol/logLevel {level} is not one of {}",
                    LEVELS.join(", ")
                )))
            }
        },
    };
    Ok(Some(Modern { caps, log_level }))
}

/// The fields of a `_meta` object: by the scanner, or by serde for unusual text.
fn read_meta(meta: &str) -> Result<Option<Fields<'_>>, sonic_rs::Error> {
    match Fields::scanned(meta) {
        Some(fields) => Ok(Some(fields)),
        None => sonic_rs::from_str::<Meta<'_>>(meta).map(|m| Some(m.into())),
    }
}

/// The `_meta` fields a modern request is read by.
struct Fields<'a> {
    version: Option<Cow<'a, str>>,
    caps: Option<ClientCaps>,
    log_level: Option<Cow<'a, str>>,
}

impl<'a> From<Meta<'a>> for Fields<'a> {
    fn from(m: Meta<'a>) -> Fields<'a> {
        let caps = m.caps.map(|c| ClientCaps {
            sampling: c.sampling.is_some(),
            elicitation: c.elicitation.is_some(),
            roots: c.roots.is_some(),
            tasks: c.extensions.is_some_and(|e| e.tasks.is_some()),
        });
        Fields { version: m.version, caps, log_level: m.log_level }
    }
}

impl<'a> Fields<'a> {
    /// The fields read by the scanner (on every modern request: serde's reader cost ~5 % of
    /// its time); `None` for anything unusual (escapes, a field of the wrong type), which
    /// the serde reader then reads or refuses with its own message.
    fn scanned(meta: &'a str) -> Option<Fields<'a>> {
        let mut fields = Fields { version: None, caps: None, log_level: None };
        let mut usual = true;
        let plain = |m: &scan::Member<'a>| match m.kind {
            scan::Kind::String if m.plain => {
                Some(Some(Cow::Borrowed(&scan::span_str(meta, m.value)[1..m.value.len() - 1])))
            }
            scan::Kind::Null => Some(None),
            _ => None,
        };
        scan::members_of_valid(meta, |m| {
            match m.key {
                b"io.modelcontextprotocol/protocolVersion" => match plain(&m) {
                    Some(v) => fields.version = v,
                    None => usual = false,
                },
                b"io.modelcontextprotocol/logLevel" => match plain(&m) {
                    Some(v) => fields.log_level = v,
                    None => usual = false,
                },
                b"io.modelcontextprotocol/clientCapabilities" => match m.kind {
                    scan::Kind::Object => match caps_scanned(scan::span_str(meta, m.value)) {
                        Some(caps) => fields.caps = Some(caps),
                        None => usual = false,
                    },
                    scan::Kind::Null => {}
                    _ => usual = false,
                },
                _ => {}
            }
            usual
        })
        .ok()?;
        usual.then_some(fields)
    }
}

/// `clientCapabilities` read by the scanner; `None` for an unusual one (see [`Fields::scanned`]).
fn caps_scanned(text: &str) -> Option<ClientCaps> {
    let mut caps = ClientCaps::default();
    let mut usual = true;
    scan::members_of_valid(text, |m| {
        let present = m.kind != scan::Kind::Null;
        match m.key {
            b"sampling" => caps.sampling = present,
            b"elicitation" => caps.elicitation = present,
            b"roots" => caps.roots = present,
            b"extensions" => match m.kind {
                scan::Kind::Object => {
                    let tasks = scan::get(scan::span_str(text, m.value), b"io.modelcontextprotocol/tasks");
                    caps.tasks = tasks.is_some_and(|t| t.kind != scan::Kind::Null);
                }
                scan::Kind::Null => {}
                _ => usual = false,
            },
            _ => {}
        }
        usual
    })
    .ok()?;
    usual.then_some(caps)
}

fn missing(what: &str) -> RpcError {
    RpcError::invalid_params(format!("Invalid params: a {MODERN_VERSION} request must carry {what}"))
}

/// The `_meta` protocol version a request declares, if any (to check against a header).
pub fn declared_version(params: Option<&str>) -> Option<String> {
    let p = params.filter(|_| looks_modern(params))?;
    let v = sonic_rs::get_from_str(p, ["_meta", "io.modelcontextprotocol/protocolVersion"]).ok()?;
    v.as_str().map(str::to_string)
}

/// -32022 for a protocol version this server does not serve.
pub fn unsupported_version(requested: &str) -> RpcError {
    let shown: String = requested.chars().take(64).collect();
    RpcError::new(
        code::UNSUPPORTED_PROTOCOL_VERSION,
        format!("Unsupported protocol version {shown}; supported: {}", MODERN_VERSIONS.join(", ")),
    )
    .with_data(&Unsupported { supported: &MODERN_VERSIONS, requested: &shown })
}

#[derive(serde::Serialize)]
struct Unsupported<'a> {
    supported: &'a [&'a str],
    requested: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eras_are_told_apart() {
        assert!(read(Some(r#"{"name":"echo"}"#), false).unwrap().is_none());
        assert!(read(None, false).unwrap().is_none());
        let m = read(
            Some(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"sampling":{}},"io.modelcontextprotocol/logLevel":"info"}}"#),
            false,
        )
        .unwrap()
        .unwrap();
        assert!(m.caps.sampling && !m.caps.elicitation);
        assert_eq!(m.log_level, LEVELS.iter().position(|l| *l == "info"));
        assert_eq!(read(None, true).unwrap_err().code, code::INVALID_PARAMS);
        let no_caps = r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#;
        assert_eq!(read(Some(no_caps), false).unwrap_err().code, code::INVALID_PARAMS);
        let old = r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"v9","io.modelcontextprotocol/clientCapabilities":{}}}"#;
        assert_eq!(read(Some(old), false).unwrap_err().code, code::UNSUPPORTED_PROTOCOL_VERSION);
    }
}
