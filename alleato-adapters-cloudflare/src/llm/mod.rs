//! Language models in a Worker: the timer the core's built-in echo model waits on.

mod sleeper;

pub use sleeper::DelaySleeper;
