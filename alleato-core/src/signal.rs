//! A one-shot flag that tasks can wait on, without any runtime: set once, seen by all.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::sync::lock;

/// A flag that starts unset and can be set once; [`Signal::wait`] completes when it is set.
#[derive(Debug, Clone, Default)]
pub struct Signal(Arc<Mutex<SignalState>>);

#[derive(Debug, Default)]
struct SignalState {
    set: bool,
    wakers: Vec<Waker>,
}

impl Signal {
    /// An unset signal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let wakers = {
            let mut s = lock(&self.0);
            s.set = true;
            std::mem::take(&mut s.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        lock(&self.0).set
    }

    /// Completes once the flag is set.
    pub fn wait(&self) -> SignalWait {
        SignalWait(self.clone())
    }

    fn poll_set(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if s.set {
            Poll::Ready(())
        } else {
            if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                s.wakers.push(cx.waker().clone());
            }
            Poll::Pending
        }
    }
}

/// The future of [`Signal::wait`].
#[derive(Debug)]
pub struct SignalWait(Signal);

impl Future for SignalWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_set(cx)
    }
}
