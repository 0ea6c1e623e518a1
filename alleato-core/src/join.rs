//! Waiting for several futures at once, without an executor or a futures crate: the core may
//! depend on neither.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

/// A boxed future, as [`join_all`] takes them.
pub(crate) type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs the futures concurrently and returns their outputs in the same order. Each is first
/// polled in that order, so whatever they queue when first polled is queued in order.
pub(crate) async fn join_all<T>(futures: Vec<Boxed<'_, T>>) -> Vec<T> {
    let mut slots: Vec<(Option<Boxed<'_, T>>, Option<T>)> = futures.into_iter().map(|f| (Some(f), None)).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in &mut slots {
            if let Some(f) = future {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *output = Some(v);
                        *future = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    slots
        .into_iter()
        .map(|(_, output)| output.expect("every future finished"))
        .collect()
}

/// Runs two futures of different outputs concurrently; `a` is polled first.
pub(crate) async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.expect("finished"), rb.expect("finished"))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::signal::Signal;

    #[test]
    fn outputs_come_back_in_order_and_first_polls_happen_in_order() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let gate = Signal::default();
        let futures: Vec<Pin<Box<dyn Future<Output = u32> + Send>>> = (0..3u32)
            .map(|i| {
                let (order, gate) = (Arc::clone(&order), gate.clone());
                Box::pin(async move {
                    order.lock().unwrap().push(i);
                    // The last one finishes first: outputs still come back in order.
                    if i != 2 {
                        gate.wait().await;
                    }
                    i * 10
                }) as Pin<Box<dyn Future<Output = u32> + Send>>
            })
            .collect();
        let mut all = Box::pin(join_all(futures));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(all.as_mut().poll(&mut cx).is_pending());
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        gate.set();
        assert_eq!(all.as_mut().poll(&mut cx), Poll::Ready(vec![0, 10, 20]));
    }

    #[test]
    fn join2_waits_for_both() {
        let gate = Signal::default();
        let waiting = {
            let gate = gate.clone();
            async move {
                gate.wait().await;
                "b"
            }
        };
        let mut both = Box::pin(join2(async { 1 }, waiting));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(both.as_mut().poll(&mut cx).is_pending());
        gate.set();
        assert_eq!(both.as_mut().poll(&mut cx), Poll::Ready((1, "b")));
    }
}
