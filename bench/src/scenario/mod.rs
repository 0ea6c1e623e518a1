//! The scenarios, and the closed loop most of them share: each connection sends its next
//! request as soon as the previous one has been answered.

pub mod create;
pub mod first_token;
pub mod followers;
pub mod list;
pub mod messages;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Error;
use crate::client::{Conn, Target};
use crate::stats::{Control, Recorder};

/// What one connection does per request.
pub trait Step: Send + 'static {
    /// Sends one request that started at `t0`, reads the answer, and records it in `rec`.
    fn step(
        &mut self,
        conn: &mut Conn,
        rec: &mut Recorder,
        ctl: &Control,
        t0: Instant,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Runs one task per worker, each on its own connection, until `ctl` says stop, and merges
/// what they recorded. Returns the merged recorder and when the last request ended.
pub async fn closed_loop<S: Step>(target: &Target, ctl: Arc<Control>, workers: Vec<S>) -> (Recorder, Instant) {
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        let (target, ctl) = (target.clone(), ctl.clone());
        tasks.push(tokio::spawn(async move {
            let mut rec = Recorder::new();
            let mut conn: Option<Conn> = None;
            while ctl.next() {
                let c = match conn.as_mut() {
                    Some(c) if c.is_open() => c,
                    _ => match Conn::open(&target).await {
                        Ok(c) => conn.insert(c),
                        Err(e) => {
                            ctl.error(format!("connect: {e}"));
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let t0 = Instant::now();
                if let Err(e) = worker.step(c, &mut rec, &ctl, t0).await {
                    ctl.error(e.to_string());
                    rec.failed(&ctl, t0);
                }
            }
            (rec, Instant::now())
        }));
    }
    let mut all = Recorder::new();
    let mut end = ctl.start();
    for t in tasks {
        match t.await {
            Ok((rec, e)) => {
                all.merge(&rec);
                end = end.max(e);
            }
            Err(e) => ctl.error(format!("worker task: {e}")),
        }
    }
    (all, end)
}
