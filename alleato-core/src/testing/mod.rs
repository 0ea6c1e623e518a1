//! Port contract suites: one async function per behaviour, in one place, run by every adapter's
//! tests.

pub mod generations;
pub mod messages;
pub mod ports;
pub mod sessions;
pub mod streams;
