//! The real `shopfleet serve` as a child process, for what only a process shows: signals, its
//! exit status, its log. It serves the database given (migrated by `serve` itself) on a free
//! port, with the test settings of [`super::server_config`] as environment variables.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shopfleet::state::AppState;
use shopfleet::tenancy::DbPool;

use super::{BASE_DOMAIN, TestApp, ensure_database, server_config};

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `shopfleet serve` on `database_url` with `envs` on top of the test settings, and
    /// waits until it listens.
    pub async fn start(database_url: &str, envs: &[(&str, &str)]) -> Self {
        ensure_database(database_url).await;
        let mut command = Command::new(env!("CARGO_BIN_EXE_shopfleet"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,sqlx=warn")
            .env("DATABASE_URL", database_url)
            .env("DATABASE_MAX_CONNECTIONS", "10")
            .env("JWT_SECRET", "test-secret-test-secret-test-secret!")
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("BASE_DOMAIN", BASE_DOMAIN)
            .env("PUBLIC_URL_TEMPLATE", "http://{host}")
            .env("STORAGE_DIR", std::env::temp_dir().join("shopfleet-test-objects"))
            .env("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
            .env("SIGNUPS_PER_IP_PER_HOUR", "100000")
            .env("AUTH_PER_IP_PER_MINUTE", "100000");
        if let Ok(dns) = std::env::var("TEST_DNS_ADDR") {
            command.env("DNS_RESOLVER", dns);
        }
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shopfleet serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = lines.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let started = Instant::now();
        let addr = loop {
            let listening = log.lock().unwrap().lines().find_map(|line| {
                line.split("shopfleet listening addr=").nth(1).map(|addr| addr.trim().to_owned())
            });
            if let Some(addr) = listening {
                break addr.parse().expect("the address it listens on");
            }
            if let Some(status) = child.try_wait().expect("the child's status") {
                panic!("shopfleet serve exited ({status}):\n{}", log.lock().unwrap());
            }
            assert!(started.elapsed() < Duration::from_secs(30), "shopfleet serve did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Self { child, addr, log }
    }

    /// A [`TestApp`] whose requests go to this process (its `state` is a stand-in built on
    /// `pool`, for the helpers that need one; it is not the process's).
    pub fn app(&self, pool: DbPool) -> TestApp {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let state = AppState::new(pool.clone(), server_config()).expect("a stand-in state");
        TestApp { addr: self.addr, client, pool, state, metrics_addr: None }
    }

    /// Sends a signal (`TERM`, `INT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -s {name} failed");
    }

    /// Waits for the process to exit, at most `within`.
    pub async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "shopfleet serve still runs {within:?} later:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether a new TCP connection to it is refused (its listener is closed).
    pub async fn refuses_connections(&self) -> bool {
        tokio::net::TcpStream::connect(self.addr).await.is_err()
    }

    /// What it logged so far (stderr).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
