//! The [`Generations`] port in one process: a registry of claims and running tasks, and a
//! spawner that runs each task in the background.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::generations::{GenerationError, GenerationTask, Generations, Task};
use crate::id::{ChatId, StreamId};
use crate::signal::Signal;
use crate::sync::lock;

/// Generations of this process: each chat's claim, each generation's stop and end signals,
/// and a spawner (tokio's on the native server, a thread or a test executor elsewhere) that
/// runs their tasks detached from the requests that started them.
pub struct MemoryGenerations {
    spawn: Box<dyn Fn(Task) + Send + Sync>,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Which generation holds each chat.
    chats: HashMap<ChatId, StreamId>,
    /// The generations claimed and not yet released.
    running: HashMap<StreamId, Running>,
}

/// A generation's signals: `stop` asks it to end; `done` says its task has ended.
#[derive(Clone, Default)]
struct Running {
    stop: Signal,
    done: Signal,
    started: bool,
}

impl MemoryGenerations {
    /// A registry whose tasks `spawn` starts in the background (it must return at once).
    pub fn new(spawn: impl Fn(Task) + Send + Sync + 'static) -> Self {
        Self {
            spawn: Box::new(spawn),
            state: Arc::default(),
        }
    }
}

impl std::fmt::Debug for MemoryGenerations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("MemoryGenerations")
            .field("claimed_chats", &s.chats.len())
            .field("running", &s.running.len())
            .finish_non_exhaustive()
    }
}

impl State {
    fn release(&mut self, chat: ChatId, stream: StreamId) -> Option<Running> {
        if self.chats.get(&chat) == Some(&stream) {
            self.chats.remove(&chat);
        }
        self.running.remove(&stream)
    }
}

/// Ends a task's generation however the task ends (finished, panicked or dropped): the claim
/// is released if the task did not, and whoever waits in `stop` is let go.
struct Ended {
    state: Arc<Mutex<State>>,
    chat: ChatId,
    stream: StreamId,
    done: Signal,
}

impl Drop for Ended {
    fn drop(&mut self) {
        lock(&self.state).release(self.chat, self.stream);
        self.done.set();
    }
}

#[async_trait]
impl Generations for MemoryGenerations {
    async fn claim(&self, chat: ChatId, stream: StreamId) -> Result<(), GenerationError> {
        let mut s = lock(&self.state);
        if s.chats.contains_key(&chat) {
            return Err(GenerationError::Busy);
        }
        s.chats.insert(chat, stream);
        s.running.insert(stream, Running::default());
        Ok(())
    }

    fn run(&self, chat: ChatId, stream: StreamId, task: GenerationTask) {
        let running = {
            let mut s = lock(&self.state);
            let r = s.running.entry(stream).or_default();
            r.started = true;
            r.clone()
        };
        let ended = Ended {
            state: Arc::clone(&self.state),
            chat,
            stream,
            done: running.done,
        };
        let work = task(Box::pin(running.stop.wait()));
        (self.spawn)(Box::pin(async move {
            let _ended = ended;
            work.await;
        }));
    }

    async fn release(&self, chat: ChatId, stream: StreamId) {
        let released = lock(&self.state).release(chat, stream);
        // A generation that never ran has no task to say it ended.
        if let Some(r) = released
            && !r.started
        {
            r.done.set();
        }
    }

    async fn stop(&self, _chat: ChatId, stream: StreamId) -> Result<bool, GenerationError> {
        let Some(running) = lock(&self.state).running.get(&stream).cloned() else {
            return Ok(false);
        };
        running.stop.set();
        running.done.wait().await;
        Ok(true)
    }

    async fn is_running(&self, _chat: ChatId, stream: StreamId) -> Result<bool, GenerationError> {
        Ok(lock(&self.state).running.contains_key(&stream))
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::testing::generations as suite;

    /// Each task on a thread of its own: the core has no runtime.
    fn threads() -> Arc<dyn Generations> {
        Arc::new(MemoryGenerations::new(|task| {
            std::thread::spawn(move || block_on(task));
        }))
    }

    #[test]
    fn the_contract_holds_with_tasks_on_threads() {
        block_on(async {
            suite::generation_claim_twice_is_busy(threads()).await;
            suite::generation_release_frees_the_chat(threads()).await;
            suite::generation_runs_without_anyone_waiting(threads()).await;
            suite::generation_stop_signals_the_task_and_waits_for_its_end(threads()).await;
            suite::generation_stop_before_run_is_seen_at_start(threads()).await;
            suite::generation_stop_of_nothing_is_false(threads()).await;
            suite::generation_released_before_run_is_not_running(threads()).await;
        });
    }

    #[test]
    fn a_task_that_never_releases_frees_the_chat_when_it_ends() {
        let g = threads();
        let chat = ChatId::from_uuid(uuid::Uuid::from_u128(1));
        let (a, b) = (
            StreamId::from_uuid(uuid::Uuid::from_u128(2)),
            StreamId::from_uuid(uuid::Uuid::from_u128(3)),
        );
        block_on(async {
            g.claim(chat, a).await.unwrap();
            let gate = Signal::new();
            let open = gate.clone();
            g.run(chat, a, Box::new(move |_| Box::pin(async move { open.wait().await })));
            gate.set();
            // Whether it ends before or after the stop is asked, `stop` returns once it has.
            g.stop(chat, a).await.unwrap();
            assert!(!g.is_running(chat, a).await.unwrap());
            g.claim(chat, b).await.unwrap();
        });
    }
}
