//! The one place where JavaScript handles and futures are made `Send`.
//!
//! The core's ports are `Send + Sync` and axum wants `Send` handler futures, on every target.
//! JavaScript values (`JsValue`, promises, `worker::Delay`, the futures of D1, KV, fetch and
//! Durable Object stubs) are neither. Every adapter of this crate goes through [`Js`] and
//! [`js`] here, and nowhere else says `unsafe impl Send`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A value made `Send` and `Sync`.
///
/// SAFETY (of the impls below): a Worker isolate runs one thread. wasm32-unknown-unknown as
/// built here has no threads (no atomics, no shared memory, no `std::thread`), so a value can
/// never be observed from, moved to or dropped on another thread: the `Send`/`Sync` promises
/// hold vacuously. What this does not make sound is crossing *request contexts* inside the one
/// thread (a waker of request A woken by request B): that is a workerd rule, not a memory-safety
/// one, and the adapters avoid it by design (followers poll on their own timers).
pub struct Js<T>(pub T);

// SAFETY: see the type's documentation: one thread per isolate, no threads in this wasm.
unsafe impl<T> Send for Js<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Js<T> {}

impl<T> std::ops::Deref for Js<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone> Clone for Js<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// A future made `Send`; see [`Js`] for why that is sound in a Worker.
pub struct JsFuture<F>(Pin<Box<F>>);

// SAFETY: see [`Js`]: one thread per isolate, no threads in this wasm.
unsafe impl<F> Send for JsFuture<F> {}

impl<F: Future> Future for JsFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// Wraps a future (a JavaScript one, or one holding JavaScript values) so that it is `Send`.
pub fn js<F: Future>(future: F) -> JsFuture<F> {
    JsFuture(Box::pin(future))
}

/// A stream made `Send`; see [`Js`] for why that is sound in a Worker.
pub struct JsStream<S>(Pin<Box<S>>);

// SAFETY: see [`Js`]: one thread per isolate, no threads in this wasm.
unsafe impl<S> Send for JsStream<S> {}

impl<S: futures_util::Stream> futures_util::Stream for JsStream<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// Wraps a stream (of a JavaScript body, say) so that it is `Send`.
pub fn js_stream<S: futures_util::Stream>(stream: S) -> JsStream<S> {
    JsStream(Box::pin(stream))
}
