//! `subscriptions/listen` (2026-07-28): the long-lived stream of the change notifications the
//! client opted in to (`toolsListChanged`, `promptsListChanged`, `resourcesListChanged`,
//! `resourceSubscriptions`). The first message is `notifications/subscriptions/acknowledged`
//! with the filter the server honours; every message carries
//! `_meta["io.modelcontextprotocol/subscriptionId"]` (the request's id). The request stays
//! unanswered until the client closes the stream (or cancels it) or the server drains: then
//! it is answered `{"_meta":{subscriptionId}}`.

use super::peer::Sink;
use super::{params, write_str, Answer, Ctx};
use crate::jsonrpc::{Id, RpcError};
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::task::{Poll, Waker};

#[derive(Deserialize, Default)]
struct Params {
    #[serde(default)]
    notifications: Filter,
}

#[derive(Deserialize, Default, Clone)]
struct Filter {
    #[serde(rename = "toolsListChanged", default)]
    tools: bool,
    #[serde(rename = "promptsListChanged", default)]
    prompts: bool,
    #[serde(rename = "resourcesListChanged", default)]
    resources: bool,
    #[serde(rename = "resourceSubscriptions", default)]
    uris: BTreeSet<String>,
}

struct Listener {
    /// The subscription id as a JSON string.
    id_json: String,
    filter: Filter,
    sink: Rc<dyn Sink>,
    closed: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// A core's open listen streams.
#[derive(Default)]
pub struct Listeners {
    list: RefCell<Vec<Rc<Listener>>>,
}

impl Listeners {
    /// Sends `notifications/<kind>/list_changed` (`kind`: tools, prompts, resources) to the
    /// streams that asked for it.
    pub fn list_changed(&self, method: &str) {
        for l in self.list.borrow().iter() {
            let wants = match method {
                "notifications/tools/list_changed" => l.filter.tools,
                "notifications/prompts/list_changed" => l.filter.prompts,
                "notifications/resources/list_changed" => l.filter.resources,
                _ => false,
            };
            if wants {
                l.sink.send(&tagged(method, None, &l.id_json));
            }
        }
    }

    /// Sends `notifications/resources/updated` for `uri` to the streams subscribed to it.
    pub fn resource_updated(&self, uri: &str) {
        let mut params = Vec::new();
        params.extend_from_slice(br#""uri":"#);
        write_str(&mut params, uri);
        for l in self.list.borrow().iter().filter(|l| l.filter.uris.contains(uri)) {
            l.sink.send(&tagged("notifications/resources/updated", Some(&params), &l.id_json));
        }
    }

    /// Ends every stream (the server drains): each request is answered.
    pub fn close_all(&self) {
        for l in self.list.borrow().iter() {
            l.closed.set(true);
            if let Some(w) = l.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Open streams.
    pub fn len(&self) -> usize {
        self.list.borrow().len()
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.list.borrow().is_empty()
    }
}

/// A notification with `params` members (no braces) and the subscription id `_meta`.
fn tagged(method: &str, params: Option<&[u8]>, id_json: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    write_str(&mut m, method);
    m.extend_from_slice(br#","params":{"#);
    if let Some(p) = params {
        m.extend_from_slice(p);
        m.push(b',');
    }
    m.extend_from_slice(br#""_meta":{"io.modelcontextprotocol/subscriptionId":"#);
    m.extend_from_slice(id_json.as_bytes());
    m.extend_from_slice(b"}}}");
    m
}

/// Removes its listener when the request ends (answered, cancelled, or dropped with its stream).
struct Registered(Rc<Listeners>, Rc<Listener>);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.list.borrow_mut().retain(|l| !Rc::ptr_eq(l, &self.1));
    }
}

pub(super) fn handle(ctx: &mut Ctx<'_>, id: Id<'_>, raw: Option<&str>) -> Answer {
    let Some(listeners) = ctx.listeners else {
        return Answer::Error(RpcError::new(
            crate::jsonrpc::code::METHOD_NOT_FOUND,
            "Method not found: subscriptions/listen is not served on this transport",
        ));
    };
    let p: Params = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let catalog = ctx.catalog;
    let has_resources = !catalog.resources.is_empty() || !catalog.templates.is_empty();
    // Only what the server can send: list changes of kinds it has, updates of its resources.
    let filter = Filter {
        tools: p.notifications.tools && !catalog.tools.is_empty(),
        prompts: p.notifications.prompts && !catalog.prompts.is_empty(),
        resources: p.notifications.resources && has_resources,
        uris: if has_resources { p.notifications.uris } else { BTreeSet::new() },
    };
    let mut id_json = Vec::new();
    match id.0.starts_with('"') {
        true => id_json.extend_from_slice(id.0.as_bytes()),
        false => write_str(&mut id_json, id.0),
    }
    let id_json = String::from_utf8(id_json).expect("JSON is UTF-8");
    let mut ack = Vec::with_capacity(96);
    let mut first = true;
    let mut flag = |name: &str, on: bool| {
        if on {
            if !first {
                ack.push(b',');
            }
            first = false;
            write_str(&mut ack, name);
            ack.extend_from_slice(b":true");
        }
    };
    flag("toolsListChanged", filter.tools);
    flag("promptsListChanged", filter.prompts);
    flag("resourcesListChanged", filter.resources);
    if !filter.uris.is_empty() {
        if !first {
            ack.push(b',');
        }
        ack.extend_from_slice(br#""resourceSubscriptions":"#);
        super::write_json(&mut ack, &filter.uris);
    }
    let mut params = b"\"notifications\":{".to_vec();
    params.extend_from_slice(&ack);
    params.push(b'}');
    let sink = ctx.sink.clone();
    sink.send(&tagged("notifications/subscriptions/acknowledged", Some(&params), &id_json));
    let listener = Rc::new(Listener {
        id_json: id_json.clone(),
        filter,
        sink,
        closed: Cell::new(false),
        waker: RefCell::new(None),
    });
    listeners.list.borrow_mut().push(listener.clone());
    let registered = Registered(listeners.clone(), listener);
    Answer::Later(Box::pin(async move {
        std::future::poll_fn(|cx| {
            let l = &registered.1;
            if l.closed.get() {
                return Poll::Ready(());
            }
            *l.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        drop(registered);
        let mut result = br#"{"_meta":{"io.modelcontextprotocol/subscriptionId":"#.to_vec();
        result.extend_from_slice(id_json.as_bytes());
        result.extend_from_slice(b"}}");
        Some(Ok(result))
    }))
}
