//! Language models: the tokio timer that the core's built-in echo model waits on.

mod sleeper;

pub use sleeper::TokioSleeper;
