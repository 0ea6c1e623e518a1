//! Latency histograms, the closed-loop schedule shared by the connections, and the summary
//! lines printed at the end of a scenario.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// The longest latency a histogram holds; longer ones are clamped to it.
const MAX_MICROS: u64 = 120_000_000;

/// A histogram of latencies in microseconds, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// Records a duration in microseconds (at least 1), clamped to the histogram's range.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS);
    h.record(us).expect("clamped into range");
}

/// How long a scenario runs: for a duration after a warm-up, or for a number of requests; never
/// past a hard deadline.
pub struct Control {
    start: Instant,
    measure_from: Instant,
    deadline: Instant,
    remaining: Option<AtomicU64>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Control {
    /// `requests` total when given (no warm-up then), else `warmup` plus `duration`; in both
    /// cases nothing runs past `max_time`.
    pub fn new(duration: Duration, warmup: Duration, requests: Option<u64>, max_time: Duration) -> Self {
        let start = Instant::now();
        let (measure_from, deadline) = match requests {
            Some(_) => (start, start + max_time),
            None => (start + warmup, start + (warmup + duration).min(max_time)),
        };
        Self {
            start,
            measure_from,
            deadline,
            remaining: requests.map(AtomicU64::new),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether another request may start.
    pub fn next(&self) -> bool {
        if Instant::now() >= self.deadline {
            return false;
        }
        match &self.remaining {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    /// Whether a request started at `t` counts (it started after the warm-up).
    pub fn counts(&self, t: Instant) -> bool {
        t >= self.measure_from
    }

    /// The measured window, from the end of the warm-up to `end`.
    pub fn window(&self, end: Instant) -> Duration {
        end.saturating_duration_since(self.measure_from)
    }

    /// When the scenario started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Samples the CPU time of the server (when its pid is known) and of this driver at the
    /// end of the warm-up; [`CpuSample::usage`] against a later sample gives the cores used.
    pub fn watch_cpu(&self, server: Option<u32>) -> tokio::task::JoinHandle<CpuSample> {
        let at = tokio::time::Instant::from_std(self.measure_from);
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            CpuSample::take(server)
        })
    }

    /// Counts an error under a short description; the first of each kind is printed.
    pub fn error(&self, what: impl Into<String>) {
        let what = what.into();
        let mut errors = self.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = errors.entry(what.clone()).or_insert(0);
        if *n == 0 {
            eprintln!("error: {what}");
        }
        *n += 1;
    }

    /// The errors seen, by kind.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// What one connection measured.
pub struct Recorder {
    /// The main latency (request to complete response, or to the first byte for streams).
    pub latency: Histogram<u64>,
    /// Completed requests that counted.
    pub ok: u64,
    /// Failed requests that counted.
    pub failed: u64,
    /// Further histograms, by name (e.g. `complete`, `first_event`).
    pub extra: BTreeMap<&'static str, Histogram<u64>>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self {
            latency: histogram(),
            ok: 0,
            failed: 0,
            extra: BTreeMap::new(),
        }
    }

    /// Records a request that started at `t0` and took `d`, if it counts.
    pub fn ok(&mut self, ctl: &Control, t0: Instant, d: Duration) {
        if ctl.counts(t0) {
            record(&mut self.latency, d);
            self.ok += 1;
        }
    }

    /// Records another measurement of a counted request.
    pub fn extra(&mut self, ctl: &Control, t0: Instant, name: &'static str, d: Duration) {
        if ctl.counts(t0) {
            record(self.extra.entry(name).or_insert_with(histogram), d);
        }
    }

    /// Records a failed request, if it counts.
    pub fn failed(&mut self, ctl: &Control, t0: Instant) {
        if ctl.counts(t0) {
            self.failed += 1;
        }
    }

    /// Adds another connection's measurements.
    pub fn merge(&mut self, other: &Recorder) {
        self.latency.add(&other.latency).expect("same bounds");
        self.ok += other.ok;
        self.failed += other.failed;
        for (name, h) in &other.extra {
            self.extra
                .entry(name)
                .or_insert_with(histogram)
                .add(h)
                .expect("same bounds");
        }
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Percentiles of a histogram in milliseconds, as JSON.
pub fn percentiles(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": (h.mean()).round() / 1000.0,
        "count": h.len(),
    })
}

/// One scenario's result: printed as a JSON line and a human line.
pub struct Summary {
    /// The scenario's name.
    pub scenario: &'static str,
    /// Connections (or users, or followers) used.
    pub connections: usize,
    /// The measured window.
    pub window: Duration,
    /// Requests completed in the window.
    pub requests: u64,
    /// Errors, by kind (requests that failed and setup failures alike).
    pub errors: BTreeMap<String, u64>,
    /// The main latency.
    pub latency: Histogram<u64>,
    /// What the main latency measures, for the human line.
    pub latency_label: &'static str,
    /// Further fields of the JSON line.
    pub extra: Map<String, Value>,
    /// Further text for the human line.
    pub note: String,
}

impl Summary {
    /// Requests per second over the window.
    pub fn rate(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 { self.requests as f64 / secs } else { 0.0 }
    }

    /// The total of errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Adds the server's memory to the figures (when its pid is known), prints the summary, and
    /// tells whether the run had no errors.
    pub fn report(mut self, server_pid: Option<u32>) -> bool {
        if let Some((rss, hwm)) = server_pid.and_then(crate::memory_kib) {
            self.extra.insert("server_rss_kib".into(), serde_json::json!(rss));
            self.extra.insert("server_hwm_kib".into(), serde_json::json!(hwm));
        }
        self.print();
        self.error_count() == 0
    }

    /// Prints the JSON line, then the human line.
    pub fn print(&self) {
        let mut obj = Map::new();
        obj.insert("scenario".into(), json!(self.scenario));
        obj.insert("connections".into(), json!(self.connections));
        obj.insert(
            "window_s".into(),
            json!((self.window.as_secs_f64() * 1000.0).round() / 1000.0),
        );
        obj.insert("requests".into(), json!(self.requests));
        obj.insert("rps".into(), json!((self.rate() * 10.0).round() / 10.0));
        obj.insert("errors".into(), json!(self.error_count()));
        if !self.errors.is_empty() {
            obj.insert("error_kinds".into(), json!(self.errors));
        }
        obj.insert("latency_ms".into(), percentiles(&self.latency));
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        println!("{}", Value::Object(obj));
        let h = &self.latency;
        let q = |p: f64| if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(p)) };
        println!(
            "{}: {} connections, {:.1} s: {:.0} req/s, {} p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms, errors {}{}",
            self.scenario,
            self.connections,
            self.window.as_secs_f64(),
            self.rate(),
            self.latency_label,
            q(0.5),
            q(0.9),
            q(0.99),
            if h.is_empty() { 0.0 } else { ms(h.max()) },
            self.error_count(),
            if self.note.is_empty() {
                String::new()
            } else {
                format!("; {}", self.note)
            },
        );
        let cores = |k: &str| self.extra.get(k).and_then(Value::as_f64);
        if let Some(server) = cores("server_cpu_cores") {
            println!(
                "  CPU: server {server:.2} cores, driver {:.2} cores, rest of the machine {:.2} cores",
                cores("driver_cpu_cores").unwrap_or(0.0),
                cores("other_cpu_cores").unwrap_or(0.0)
            );
        }
    }
}

/// `p50/p99` of a histogram in milliseconds, for human lines.
pub fn short(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "n/a".to_owned();
    }
    format!(
        "p50 {:.3} ms, p99 {:.3} ms",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99))
    )
}

/// CPU time used so far by the server and by this driver.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    server: Option<u64>,
    driver: Option<u64>,
    machine: Option<u64>,
}

/// Busy CPU time of the whole machine (all but idle and iowait), in clock ticks.
fn machine_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    let total: u64 = cpu.iter().take(8).sum();
    Some(total - cpu.get(3)? - cpu.get(4)?)
}

/// User plus system CPU time of a process, in clock ticks, from `/proc/<pid>/stat`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

impl CpuSample {
    /// Now.
    pub fn take(server: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            server: server.and_then(cpu_ticks),
            driver: cpu_ticks(std::process::id()),
            machine: machine_ticks(),
        }
    }

    /// `{server_cpu_cores, driver_cpu_cores, other_cpu_cores}` between `self` and the later
    /// `end`; `other` is what the rest of the machine used, which disturbs the figures.
    pub fn usage(&self, end: &CpuSample) -> Map<String, Value> {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let secs = end.at.saturating_duration_since(self.at).as_secs_f64().max(1e-9);
        let cores = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => json!(((b.saturating_sub(a) as f64 / hz / secs) * 100.0).round() / 100.0),
            _ => Value::Null,
        };
        let mut m = Map::new();
        if self.server.is_some() {
            m.insert("server_cpu_cores".into(), cores(self.server, end.server));
        }
        m.insert("driver_cpu_cores".into(), cores(self.driver, end.driver));
        let used = |a: Option<u64>, b: Option<u64>| b.zip(a).map(|(b, a)| b.saturating_sub(a)).unwrap_or(0);
        if let (Some(a), Some(b)) = (self.machine, end.machine) {
            let other = b
                .saturating_sub(a)
                .saturating_sub(used(self.server, end.server) + used(self.driver, end.driver));
            m.insert(
                "other_cpu_cores".into(),
                json!(((other as f64 / hz / secs) * 100.0).round() / 100.0),
            );
        }
        m
    }
}
