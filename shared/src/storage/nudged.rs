//! A thread that does one piece of work each time it is nudged: nudges made while it works
//! become one more run, not one each. SQLite's checkpoints and PostgreSQL's change
//! announcements both run this way, off the path of the write that asked for them.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The thread; dropping it stops the thread (a nudge still pending is not run) and waits.
#[derive(Debug)]
pub(crate) struct Nudged {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

/// Whether a run is asked for, and whether the thread must stop.
#[derive(Debug, Default)]
struct State {
    flags: Mutex<(bool, bool)>,
    wake: Condvar,
}

impl State {
    /// Waits for a run to do (`true`) or the order to stop (`false`).
    fn next(&self) -> bool {
        let mut flags = self.flags.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let (run, stop) = *flags;
            if stop {
                return false;
            }
            if run {
                flags.0 = false;
                return true;
            }
            flags = self
                .wake
                .wait(flags)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn set(&self, run: bool, stop: bool) {
        let mut flags = self.flags.lock().unwrap_or_else(PoisonError::into_inner);
        flags.0 |= run;
        flags.1 |= stop;
        self.wake.notify_one();
    }
}

impl Nudged {
    /// Starts the thread `name`, which runs `work` once per (coalesced) nudge.
    pub(crate) fn start(
        name: &str,
        mut work: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Nudged> {
        let state = Arc::new(State::default());
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn({
            let state = state.clone();
            move || {
                while state.next() {
                    work();
                }
            }
        })?;
        Ok(Nudged {
            state,
            thread: Some(thread),
        })
    }

    /// Asks for one more run; never blocks.
    pub(crate) fn nudge(&self) {
        self.state.set(true, false);
    }
}

impl Drop for Nudged {
    fn drop(&mut self) {
        self.state.set(false, true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
