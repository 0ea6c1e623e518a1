//! Generations: one per chat at a time, run to their end without the client that started them,
//! stopped from anywhere.

mod port;

pub use port::{GenerationError, GenerationTask, Generations, StopSignal, Task};
