//! Tool handler panics: caught at the request boundary (the request gets -32603), logged once
//! per tool with the panic's message and place, and counted per tool for `/metrics`
//! (`ringmcp_tool_panics_total`), instead of a message and backtrace on stderr per request.
//!
//! A process-wide panic hook stays quiet while the current thread runs inside [`guarded`],
//! keeping the message for [`record`]; any other panic goes to the hook that was there before.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Mutex, Once};
use std::task::{Context, Poll};

thread_local! {
    /// How many [`guarded`] calls the current thread is inside.
    static GUARDED: Cell<u32> = const { Cell::new(0) };
    /// The last guarded panic's message and place, for [`record`].
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics per tool since start. Touched only when a handler panics, never on the request path.
static COUNTS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

static HOOK: Once = Once::new();

/// Runs `f`, catching a panic quietly (see the module doc).
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    HOOK.call_once(install);
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    result
}

/// Polls `fut` to its end with every poll [`guarded`]: `Err` if a poll panicked.
pub(crate) async fn guarded_future<F: Future>(fut: F) -> std::thread::Result<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx: &mut Context<'_>| match guarded(|| Pin::as_mut(&mut fut).poll(cx)) {
        Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(payload) => Poll::Ready(Err(payload)),
    })
    .await
}

/// Counts a caught panic of `tool`; the first one of each tool is logged with its message.
pub(crate) fn record(tool: &str) {
    let what = LAST.with(|l| l.borrow_mut().take()).unwrap_or_else(|| "unknown panic".to_string());
    let mut counts = COUNTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let n = counts.entry(tool.to_string()).or_insert(0);
    *n += 1;
    if *n == 1 {
        log::error!(
            "tool {tool} panicked: {what}; its caller got -32603. Later panics of this tool are counted in \
             ringmcp_tool_panics_total, not logged"
        );
    }
}

/// Panics per tool since start, by tool name.
pub(crate) fn counts() -> Vec<(String, u64)> {
    let counts = COUNTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    counts.iter().map(|(tool, n)| (tool.clone(), *n)).collect()
}

fn install() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if GUARDED.with(Cell::get) == 0 {
            return previous(info);
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic payload".to_string());
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        LAST.with(|l| *l.borrow_mut() = Some(format!("{message}{place}")));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarded_panics_are_caught_counted_and_kept_quiet() {
        let tool = "panics-test-tool";
        assert_eq!(guarded(|| 7).unwrap(), 7);
        for _ in 0..3 {
            assert!(guarded(|| panic!("boom")).is_err());
            assert_eq!(LAST.with(|l| l.borrow().clone()).unwrap().split(" at ").next(), Some("boom"));
            record(tool);
        }
        assert!(counts().contains(&(tool.to_string(), 3)));
        let fut = guarded_future(async { panic!("later") });
        assert!(futures_lite::future::block_on(fut).is_err());
    }
}
