//! A PostgreSQL server for the tests that need PostgreSQL itself (several instances on one
//! database): the run's own (`TEST_DATABASE_URL`) when it names one, or else a throwaway
//! cluster from the machine's packages (`/usr/lib/postgresql/<version>/bin`), started in a
//! temporary directory, listening only on a unix socket there, and stopped when dropped.
//!
//! Without a server, such a test is skipped, unless `CI` is set: then it fails, as the
//! browser test does without a browser.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shared::storage::testdb::{TestDb, postgres_admin_url};

/// Where the run gets its PostgreSQL server from; keep it alive while the test runs.
#[derive(Debug)]
pub enum Server {
    /// `TEST_DATABASE_URL`'s server.
    Run(String),
    /// A cluster this test started.
    Own(Cluster),
}

impl Server {
    /// The run's server, or a throwaway cluster. `None` (the test should return) when there
    /// is no server here and `CI` is not set.
    ///
    /// # Panics
    /// When `CI` is set and there is no PostgreSQL here, or a cluster fails to start.
    pub fn get() -> Option<Server> {
        if let Some(url) = postgres_admin_url() {
            return Some(Server::Run(url));
        }
        match Cluster::start() {
            Some(cluster) => Some(Server::Own(cluster)),
            None if std::env::var_os("CI").is_some() => panic!(
                "CI is set but there is no PostgreSQL server: set TEST_DATABASE_URL, or install \
                 Debian's postgresql (apt-get install postgresql)"
            ),
            None => {
                eprintln!(
                    "skipped: no PostgreSQL server (set TEST_DATABASE_URL or install postgresql)"
                );
                None
            }
        }
    }

    /// An admin URL (a role that may create databases).
    pub fn admin_url(&self) -> &str {
        match self {
            Server::Run(url) => url,
            Server::Own(cluster) => &cluster.url,
        }
    }

    /// A fresh database on it, dropped with the returned value.
    pub fn database(&self, name: &str) -> TestDb {
        TestDb::postgres(self.admin_url(), name)
    }
}

/// A throwaway cluster; stopped (fast shutdown) and deleted on drop.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    pub url: String,
}

/// The newest installed server's programs.
fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    found.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str()?.parse::<u32>().ok())
    });
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

impl Cluster {
    /// `None` when no server is installed.
    ///
    /// # Panics
    /// When one is installed but the cluster does not start.
    pub fn start() -> Option<Cluster> {
        let bin = server_bin()?;
        let dir = std::env::temp_dir().join(format!(
            "pg-test-{}-{}",
            std::process::id(),
            shared::security::secret::random_alphanumeric(8)
        ));
        std::fs::create_dir(&dir).expect("create the cluster's directory");
        // initdb refuses to run as root: the cluster then belongs to `postgres`.
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .arg("postgres")
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let cluster = Cluster {
            url: format!("postgres:///postgres?host={}&user=postgres", dir.display()),
            dir,
            bin,
        };
        let data = cluster.dir.join("data");
        cluster.run(
            as_postgres,
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        let options = format!(
            "-c listen_addresses='' -k {} -c fsync=off -c max_connections=200",
            cluster.dir.display()
        );
        let log = cluster.dir.join("server.log");
        cluster.run(
            as_postgres,
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        );
        Some(cluster)
    }

    fn run(&self, as_postgres: bool, program: &str, args: &[&std::ffi::OsStr]) {
        let path = self.bin.join(program);
        let mut command = if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pid_file = self.dir.join("data/postmaster.pid");
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok())
        {
            // SIGINT is PostgreSQL's fast shutdown.
            let _ = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while pid_file.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
