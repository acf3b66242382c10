//! Input a 2026-07-28 task asks of its client (the tasks extension): the task parks in
//! `input_required`, `tasks/get` shows its `inputRequests`, and `tasks/update` brings the
//! answers, each waking the handler that awaits it. Unlike a multi round-trip request, the
//! handler is not re-run: it simply waits.

use super::client::{ClientCaps, ClientError};
use super::write_str;
use crate::limits::INPUT_REQUESTS_MAX;
use std::cell::RefCell;
use std::collections::HashMap;
use std::task::{Poll, Waker};

/// One task's open input requests and the answers not yet taken.
#[derive(Debug, Default)]
pub struct TaskInput {
    caps: ClientCaps,
    /// Asked and not answered, in the order asked: key, method, raw params.
    asked: RefCell<Vec<(String, &'static str, String)>>,
    /// Answered and not yet taken by the handler: key → raw result.
    answers: RefCell<HashMap<String, String>>,
    wakers: RefCell<Vec<Waker>>,
}

impl TaskInput {
    /// The input of a task whose client declared `caps`.
    pub fn new(caps: ClientCaps) -> TaskInput {
        TaskInput { caps, ..TaskInput::default() }
    }

    /// Asks the client for `method` under `key` and waits for `tasks/update` to answer it.
    /// Refused at once if the client did not declare the capability, or if the task already
    /// waits for [`INPUT_REQUESTS_MAX`] answers.
    pub async fn ask(&self, key: &str, method: &str, params_json: &str) -> Result<String, ClientError> {
        let (method, declared, cap) = match method {
            "elicitation/create" => ("elicitation/create", self.caps.elicitation, "elicitation"),
            "sampling/createMessage" => ("sampling/createMessage", self.caps.sampling, "sampling"),
            "roots/list" => ("roots/list", self.caps.roots, "roots"),
            _ => return Err(ClientError::Unsupported("a request other than elicitation, sampling or roots")),
        };
        if !declared {
            return Err(ClientError::Unsupported(cap));
        }
        {
            let mut asked = self.asked.borrow_mut();
            if !asked.iter().any(|(k, _, _)| k == key) && !self.answers.borrow().contains_key(key) {
                if asked.len() >= INPUT_REQUESTS_MAX {
                    return Err(ClientError::Unsupported("more than INPUT_REQUESTS_MAX open input requests"));
                }
                asked.push((key.to_string(), method, params_json.to_string()));
            }
        }
        std::future::poll_fn(|cx| match self.answers.borrow_mut().remove(key) {
            Some(answer) => Poll::Ready(Ok(answer)),
            None => {
                let mut wakers = self.wakers.borrow_mut();
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }

    /// Answers the open request `key` with `result` (raw JSON); false (ignored) for a key that
    /// is not open, as the extension asks.
    pub fn answer(&self, key: &str, result: String) -> bool {
        let mut asked = self.asked.borrow_mut();
        let Some(at) = asked.iter().position(|(k, _, _)| k == key) else { return false };
        asked.remove(at);
        self.answers.borrow_mut().insert(key.to_string(), result);
        drop(asked);
        self.wakers.borrow_mut().drain(..).for_each(Waker::wake);
        true
    }

    /// Whether the task waits for an answer (it shows `input_required`).
    pub fn waiting(&self) -> bool {
        !self.asked.borrow().is_empty()
    }

    /// Writes `"inputRequests":{key:{"method":…,"params":…},…}`.
    pub fn write_requests(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#""inputRequests":{"#);
        for (i, (key, method, params)) in self.asked.borrow().iter().enumerate() {
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
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn caps() -> ClientCaps {
        ClientCaps { elicitation: true, ..ClientCaps::default() }
    }

    #[test]
    fn an_ask_waits_for_its_answer_and_other_keys_are_ignored() {
        let input = TaskInput::new(caps());
        let mut ask = std::pin::pin!(input.ask("confirm", "elicitation/create", r#"{"message":"ok?"}"#));
        let mut cx = std::task::Context::from_waker(Waker::noop());
        assert!(ask.as_mut().poll(&mut cx).is_pending());
        assert!(input.waiting());
        let mut out = Vec::new();
        input.write_requests(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""inputRequests":{"confirm":{"method":"elicitation/create","params":{"message":"ok?"}}}"#
        );
        assert!(!input.answer("other", "{}".into()), "an unknown key is ignored");
        assert!(input.answer("confirm", r#"{"action":"accept"}"#.into()));
        assert!(!input.answer("confirm", "{}".into()), "answered once");
        assert!(!input.waiting());
        assert_eq!(ask.as_mut().poll(&mut cx), Poll::Ready(Ok(r#"{"action":"accept"}"#.to_string())));
    }

    #[test]
    fn undeclared_kinds_are_refused() {
        let input = TaskInput::new(caps());
        let mut ask = std::pin::pin!(input.ask("s", "sampling/createMessage", "{}"));
        let mut cx = std::task::Context::from_waker(Waker::noop());
        assert_eq!(ask.as_mut().poll(&mut cx), Poll::Ready(Err(ClientError::Unsupported("sampling"))));
        assert!(!input.waiting());
    }
}
