//! Port contract suites: one async function per behaviour, in one place, run by every adapter's
//! tests.
//!
//! Each suite offers its behaviours two ways, so that any test harness can run them:
//!
//! - a macro (`stream_hub_contract_tests!(#[runner] make)`) that expands to one test per
//!   behaviour under the runner's attribute: `#[tokio::test]` when none is given, or, say,
//!   `#[wasm_bindgen_test]` in a Worker's harness;
//! - `cases()`: every behaviour as a [`Case`], for a harness that runs them itself (in workerd,
//!   from a test route), each on a fresh adapter, with the adapter's [`Capabilities`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::memory::ManualClock;

pub mod generations;
pub mod messages;
pub mod ports;
pub mod sessions;
pub mod streams;

/// What the adapter under test can do that a suite needs to know: the differences between
/// adapters are these arguments, not conditions inside the suites.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// The clock the adapter reads, when the suite may move it (`ManualClock`): behaviours
    /// of expiry are then checked. `None` for an adapter on the platform's clock (Workers KV,
    /// a Durable Object's alarms): they are left out.
    pub clock: Option<Arc<ManualClock>>,
}

impl Capabilities {
    /// An adapter on the platform's clock: nothing the suite can move.
    pub fn real_time() -> Self {
        Self::default()
    }

    /// An adapter timed by `clock`, which the suite moves forward.
    pub fn manual_clock(clock: Arc<ManualClock>) -> Self {
        Self { clock: Some(clock) }
    }
}

/// The future of one behaviour. Not `Send`: a Worker's harness runs on one thread.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One behaviour of a suite: its name, and its body over a fresh adapter `A` and the adapter's
/// capabilities. It panics when the adapter breaks the contract.
pub struct Case<A: ?Sized> {
    /// The behaviour, as its function is named (`stream_append_numbers_from_zero`).
    pub name: &'static str,
    /// Checks the behaviour on a fresh adapter.
    pub run: for<'a> fn(&'a A, &'a Capabilities) -> CaseFuture<'a>,
}

impl<A: ?Sized> std::fmt::Debug for Case<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The [`Case`]s of suite functions: `name` for one that takes the adapter only,
/// `name(caps)` for one that also takes the capabilities.
macro_rules! cases {
    ($($name:ident $(($caps:ident))?),* $(,)?) => {
        vec![$($crate::testing::Case {
            name: stringify!($name),
            run: $crate::testing::cases!(@run $name $(($caps))?),
        }),*]
    };
    (@run $name:ident) => { |adapter, _| Box::pin($name(adapter)) };
    (@run $name:ident (caps)) => { |adapter, caps| Box::pin($name(adapter, caps)) };
}
pub(crate) use cases;
