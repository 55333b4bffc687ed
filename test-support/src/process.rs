//! A service's real binary as a child process: started on a port it picks, found by the
//! "listening on <url>" line it logs, its stderr kept for the test to read, and killed if it
//! is still running when the test lets go of it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

/// How long a service may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Adds what runs `serve` on `bind` over the database `db`, to a command whose program (or
/// wrapper script) is the service's binary: a clean environment but `RUST_LOG=info`, which
/// the "listening on" line needs. Further `env` calls come after.
pub fn serve<'c>(command: &'c mut Command, db: &Path, bind: &str) -> &'c mut Command {
    command
        .env_clear()
        .env("RUST_LOG", "info")
        .arg("--database")
        .arg(db)
        .args(["serve", "--bind", bind])
}

/// A running service, its stderr collected; killed if still running on drop.
#[derive(Debug)]
pub struct ChildService {
    pub name: String,
    pub child: Child,
    /// `http://127.0.0.1:<port>`, the address it is bound to, as the service logged it.
    pub url: String,
    stderr: Arc<Mutex<String>>,
}

impl ChildService {
    /// Spawns `command` (stdin and stdout closed, stderr read here) and waits for it to log
    /// where it listens.
    ///
    /// # Panics
    /// When it cannot be started or does not say where it listens within 30 s.
    pub fn start(name: &str, command: &mut Command) -> ChildService {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("the stderr pipe");
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                // "listening on <url>", or "listening on <url> as <public URL>".
                if let Some((_, url)) = line.split_once("listening on ") {
                    let url = url.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(url.to_owned());
                }
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
        let url = rx
            .recv_timeout(START_TIMEOUT)
            .unwrap_or_else(|_| panic!("{name} did not start: {}", read(&stderr)));
        ChildService {
            name: name.to_owned(),
            child,
            url,
            stderr,
        }
    }

    /// `127.0.0.1:<port>`: the URL without its scheme.
    pub fn address(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The port it listens on.
    ///
    /// # Panics
    /// When the logged URL has no port.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the URL")
    }

    /// Sends `signal` (`-TERM`, ...) with `kill`.
    ///
    /// # Panics
    /// When `kill` fails.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// SIGTERM, then asserts a clean exit; returns the whole log.
    ///
    /// # Panics
    /// When the service exits with a failure.
    pub fn stop(mut self) -> String {
        self.signal("-TERM");
        let status = self.child.wait().expect("wait for the service");
        assert!(status.success(), "{} exited with {status}", self.name);
        // The stderr reader ends with the pipe.
        std::thread::sleep(Duration::from_millis(100));
        self.log()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        read(&self.stderr)
    }
}

impl Drop for ChildService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(log: &Mutex<String>) -> String {
    log.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Runs a management command, `binary --database <database> <args>`, to completion with an
/// empty environment but `env`: (success, stdout, stderr).
///
/// # Panics
/// When the binary cannot be run at all.
pub fn manage(
    binary: &Path,
    database: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let output = Command::new(binary)
        .env_clear()
        .envs(env.iter().copied())
        .arg("--database")
        .arg(database)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", binary.display()));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// [`manage`] that must succeed; its stdout.
///
/// # Panics
/// When the command fails (with its stderr).
pub fn manage_ok(binary: &Path, database: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let (success, stdout, stderr) = manage(binary, database, args, env);
    assert!(success, "{args:?} failed: {stderr}");
    stdout
}

/// Another binary of the workspace, built into the same directory as `binary` (Fake Social
/// Site beside My API's `CARGO_BIN_EXE_my-api`).
///
/// # Panics
/// When it has not been built.
pub fn sibling_binary(binary: &str, name: &str) -> std::path::PathBuf {
    let path = Path::new(binary).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: cargo build -p {name}",
        path.display()
    );
    path
}

/// Registers at Fake Social Site (`fss_binary` on `database`) the confidential client My API
/// uses for token introspection, with `createapplication`; the client secret it printed once.
///
/// # Panics
/// When the command fails or prints no secret.
pub fn create_introspection_client(fss_binary: &Path, database: &str, client_id: &str) -> String {
    let printed = manage_ok(
        fss_binary,
        database,
        &[
            "createapplication",
            "--name",
            "My API",
            "--client-id",
            client_id,
            "--client-type",
            "confidential",
            "--allow-introspection",
        ],
        &[("BCRYPT_COST", "4")],
    );
    printed
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .expect("the printed client secret")
        .to_owned()
}
