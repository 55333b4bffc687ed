//! A logger that keeps every record of the test binary in memory, so that a test can look
//! for what must never be logged, in the human form and as the services' JSON lines
//! (`LOG_FORMAT=json`, with the request id). `log` takes one logger per process: [`capture`] installs
//! it once, and each test looks only for its own secrets in [`captured`].

use std::sync::{Mutex, OnceLock, PoisonError};

static CAPTURED: Mutex<String> = Mutex::new(String::new());
static CAPTURED_JSON: Mutex<String> = Mutex::new(String::new());

#[derive(Debug)]
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}\n", record.target(), record.args());
        CAPTURED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_str(&line);
        let json = shared::service::logging::json_line(record, "");
        let mut captured = CAPTURED_JSON.lock().unwrap_or_else(PoisonError::into_inner);
        captured.push_str(&json);
        captured.push('\n');
    }

    fn flush(&self) {}
}

/// Installs the capturing logger at `Trace` (once; later calls do nothing).
///
/// # Panics
/// When another logger was installed in this test binary first.
pub fn capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        log::set_logger(&Capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Every record so far, one `target message` line each.
pub fn captured() -> String {
    CAPTURED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Every record so far as the JSON line `LOG_FORMAT=json` writes (its `time` left empty).
pub fn captured_json() -> String {
    CAPTURED_JSON
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}
