//! Sleep and timeout: futures whose wakers wait in the loop's deadlines.

use crate::deadlines::TimerKey;
use crate::executor;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A future that completes at a deadline; see [`sleep`].
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    at: Instant,
    key: Option<TimerKey>,
}

/// Completes after `duration`, on the ring loop of this thread (its wait is bounded by the
/// earliest deadline). Panics outside a loop.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep { at: Instant::now() + duration, key: None }
}

impl Sleep {
    /// Completes at `at`.
    pub fn until(at: Instant) -> Sleep {
        Sleep { at, key: None }
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.at
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            if let Some(key) = self.key.take() {
                executor::with(|core| core.timers.borrow_mut().remove(key));
            }
            return Poll::Ready(());
        }
        let at = self.at;
        let key = self.key;
        let new_key = executor::with(|core| {
            let mut timers = core.timers.borrow_mut();
            match key {
                Some(key) if timers.rewake(key, cx.waker()) => key,
                _ => timers.insert(at, cx.waker().clone()),
            }
        });
        self.key = Some(new_key);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Outside a loop (the loop is gone) there is nothing to remove.
            let _ = executor::try_with(|core| {
                if let Ok(mut timers) = core.timers.try_borrow_mut() {
                    timers.remove(key);
                }
            });
        }
    }
}

/// `future`'s output, or [`Elapsed`] if `duration` passes first.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let future = std::pin::pin!(future);
    let mut sleep = std::pin::pin!(sleep(duration));
    let mut future = future;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        sleep.as_mut().poll(cx).map(|()| Err(Elapsed))
    })
    .await
}

/// The error of [`timeout`]: the time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for Elapsed {}
