//! Input a request asks of its client, in the 2026-07-28 era: multi round-trip requests.
//!
//! A handler asks (elicitation, sampling, roots) with a key. An answer the client brought
//! (`params.inputResponses`, or an earlier round's answers sealed in `params.requestState`) is
//! returned at once; otherwise the request is recorded and the handler is not run further:
//! the request is answered `resultType: "input_required"` with every request recorded in that
//! run and a new `requestState` holding the answers so far. The client retries with the
//! answers and the handler runs again from its start, this time getting them.

use super::client::{ClientCaps, ClientError};
use super::request_state::{self, Answers, Binding};
use super::write_str;
use crate::jsonrpc::RpcError;
use crate::limits::INPUT_REQUESTS_MAX;
use crate::scan;
use sonic_rs::JsonValueTrait;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// One run's view of its input: the answers it has and the requests it made.
#[derive(Debug, Default)]
pub struct InputRound {
    caps: ClientCaps,
    answers: Answers,
    asked: RefCell<Vec<(String, &'static str, String)>>,
    counters: RefCell<BTreeMap<&'static str, usize>>,
}

fn bad_state() -> RpcError {
    RpcError::invalid_params("Invalid params: requestState must be a string")
}

/// The client capability each input request needs.
fn capability(method: &str) -> Option<(&'static str, &'static str)> {
    match method {
        "elicitation/create" => Some(("elicitation/create", "elicitation")),
        "sampling/createMessage" => Some(("sampling/createMessage", "sampling")),
        "roots/list" => Some(("roots/list", "roots")),
        _ => None,
    }
}

impl InputRound {
    /// A round whose client declared `caps` and brought `answers`.
    pub fn new(caps: ClientCaps, answers: Answers) -> InputRound {
        InputRound { caps, answers, ..InputRound::default() }
    }

    /// Reads the answers a retry brings: the sealed earlier ones of `request_state` (checked
    /// against `binding`), then `input_responses` (raw JSON object text) over them.
    pub fn answers_of(
        request_state: Option<&str>,
        input_responses: Option<&str>,
        binding: &Binding<'_>,
        now_unix_ms: u64,
    ) -> Result<Answers, RpcError> {
        let mut answers = match request_state {
            Some(state) => request_state::open(state, binding, now_unix_ms)?,
            None => Answers::new(),
        };
        if let Some(raw) = input_responses {
            let map: BTreeMap<String, sonic_rs::LazyValue<'_>> = sonic_rs::from_str(raw).map_err(|_| {
                RpcError::invalid_params(
                    "Invalid params: inputResponses must be an object of input-request keys to results",
                )
            })?;
            for (k, v) in map {
                if !v.is_object() {
                    return Err(RpcError::invalid_params(format!(
                        "Invalid params: inputResponses.{k} must be the result object of that input request"
                    )));
                }
                answers.insert(k, v.as_raw_str().to_string());
            }
        }
        Ok(answers)
    }

    /// The answers a retry's params (`raw`, valid JSON) bring: `requestState` and
    /// `inputResponses` (absent on most requests: found by the scanner, which costs no error).
    pub fn answers_in(raw: &str, binding: &Binding<'_>, now_unix_ms: u64) -> Result<Answers, RpcError> {
        let (mut responses, mut state) = (None, None);
        let scanned = scan::members_of_valid(raw, |m| {
            match m.key {
                b"inputResponses" => responses = Some(m),
                b"requestState" => state = Some(m),
                _ => {}
            }
            true
        });
        if scanned.is_err() {
            return Self::answers_in_parsed(raw, binding, now_unix_ms);
        }
        let value = |m: scan::Member<'_>| Some(scan::span_str(raw, m.value)).filter(|_| m.kind != scan::Kind::Null);
        Self::answers_raw(state.and_then(value), responses.and_then(value), binding, now_unix_ms)
    }

    /// The answers of a retry from the raw JSON values of its `requestState` and
    /// `inputResponses` (as a method's own params scan found them; `None` if absent or null).
    pub fn answers_raw(
        state: Option<&str>,
        responses: Option<&str>,
        binding: &Binding<'_>,
        now_unix_ms: u64,
    ) -> Result<Answers, RpcError> {
        let state: Option<std::borrow::Cow<'_, str>> = match state {
            None => None,
            Some(v) => match scan::plain_str(v) {
                Some(s) => Some(s.into()),
                None if v.starts_with('"') => Some(sonic_rs::from_str::<String>(v).map_err(|_| bad_state())?.into()),
                None => return Err(bad_state()),
            },
        };
        Self::answers_of(state.as_deref(), responses, binding, now_unix_ms)
    }

    /// [`answers_in`](Self::answers_in) by the full parser, for params the scanner declines.
    fn answers_in_parsed(raw: &str, binding: &Binding<'_>, now_unix_ms: u64) -> Result<Answers, RpcError> {
        let field = |name: &str| sonic_rs::get_from_str(raw, [name]).ok().filter(|v| !v.is_null());
        let responses = field("inputResponses");
        let state = match field("requestState") {
            None => None,
            Some(v) => match v.as_str() {
                Some(s) => Some(s.to_string()),
                None => return Err(bad_state()),
            },
        };
        Self::answers_of(state.as_deref(), responses.as_ref().map(|v| v.as_raw_str()), binding, now_unix_ms)
    }

    /// The answer to the request `key` (`method` with `params_json`), or `Ok(None)` after
    /// recording it to be asked. Refused if the client did not declare the capability.
    pub fn ask(&self, key: &str, method: &str, params_json: &str) -> Result<Option<String>, ClientError> {
        let Some((method, cap)) = capability(method) else {
            return Err(ClientError::Unsupported("a request other than elicitation, sampling or roots"));
        };
        let declared = match cap {
            "elicitation" => self.caps.elicitation,
            "sampling" => self.caps.sampling,
            _ => self.caps.roots,
        };
        if !declared {
            return Err(ClientError::Unsupported(cap));
        }
        if let Some(answer) = self.answers.get(key) {
            return Ok(Some(answer.clone()));
        }
        let mut asked = self.asked.borrow_mut();
        if !asked.iter().any(|(k, _, _)| k == key) {
            asked.push((key.to_string(), method, params_json.to_string()));
        }
        Ok(None)
    }

    /// A key for the next request of `method` that names none: `elicitation-1`, `sampling-1`,
    /// `roots-1`, `elicitation-2`, … (the same in every run of a deterministic handler).
    pub fn next_key(&self, method: &str) -> String {
        let kind = match method {
            "elicitation/create" => "elicitation",
            "sampling/createMessage" => "sampling",
            "roots/list" => "roots",
            _ => "input",
        };
        let mut counters = self.counters.borrow_mut();
        let n = counters.entry(kind).or_insert(0);
        *n += 1;
        format!("{kind}-{n}")
    }

    /// Whether the run asked for something it does not have.
    pub fn has_asked(&self) -> bool {
        !self.asked.borrow().is_empty()
    }

    /// Writes the `input_required` result: the requests asked, and the answers so far sealed
    /// for `binding`. -32603 if the handler asked for more than [`INPUT_REQUESTS_MAX`].
    pub fn write_input_required(
        &self,
        binding: &Binding<'_>,
        now_unix_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), RpcError> {
        let asked = self.asked.borrow();
        if asked.len() > INPUT_REQUESTS_MAX {
            return Err(RpcError::new(
                crate::jsonrpc::code::INTERNAL_ERROR,
                format!(
                    "Internal error: the handler asked for {} inputs at once; at most {INPUT_REQUESTS_MAX}",
                    asked.len()
                ),
            ));
        }
        out.extend_from_slice(br#"{"resultType":"input_required","inputRequests":{"#);
        for (i, (key, method, params)) in asked.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, key);
            out.extend_from_slice(br#":{"method":"#);
            write_str(out, method);
            out.extend_from_slice(br#","params":"#);
            out.extend_from_slice(params.as_bytes());
            out.push(b'}');
        }
        out.extend_from_slice(br#"},"requestState":"#);
        write_str(out, &request_state::seal(binding, &self.answers, now_unix_ms));
        out.push(b'}');
        Ok(())
    }
}
