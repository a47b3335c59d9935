//! A `chat-token` process running in the background, its output collected as it comes.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{assert_no_secret_in, command};

/// How long a test waits for what it expects (a process listening, exiting, logging a
/// line) before it gives up: a generous bound for a loaded machine, no timing asserted.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Calls `done` every 20 ms until it says yes or [`DEADLINE`] has passed: whether it did.
pub fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The address in the line `serve` logs once it listens (`... addr=127.0.0.1:PORT`).
fn listening_addr(log: &str) -> Option<SocketAddr> {
    log.split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
}

/// A `chat-token` process whose stdout and stderr are collected as they come; killed on
/// drop.
pub struct Process {
    /// The process.
    pub child: Child,
    out: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Process {
    /// Starts `chat-token <args>` with `RUST_LOG=info` and, among the variables the
    /// tests use, only those in `env` (see [`command`]), stdin empty.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = command(&[("RUST_LOG", "info")])
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat-token");
        let out = Arc::new(Mutex::new(String::new()));
        let pipes: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        let readers = pipes
            .into_iter()
            .map(|pipe| {
                let sink = out.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                        sink.lock().expect("output").push_str(&(line + "\n"));
                    }
                })
            })
            .collect();
        Self {
            child,
            out,
            readers,
        }
    }

    /// Starts `chat-token serve --bind 127.0.0.1:0 <args>` (see [`Process::start`]).
    pub fn serve(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start(&[&["serve", "--bind", "127.0.0.1:0"], args].concat(), env)
    }

    /// Everything written so far, both streams.
    pub fn output(&self) -> String {
        self.out.lock().expect("output").clone()
    }

    /// Where `serve` listens, once it does; `None` if it exits first or does not listen
    /// within [`DEADLINE`].
    pub fn addr(&mut self) -> Option<SocketAddr> {
        let mut addr = None;
        eventually(|| {
            addr = listening_addr(&self.output());
            addr.is_some() || self.child.try_wait().expect("wait").is_some()
        });
        addr
    }

    /// Whether the output has `count` lines with `needle` within [`DEADLINE`].
    pub fn logs(&self, needle: &str, count: usize) -> bool {
        eventually(|| self.output().matches(needle).count() >= count)
    }

    /// Waits (at most [`DEADLINE`]) until the output has `count` lines with `needle`.
    pub fn wait_for_log(&self, needle: &str, count: usize) {
        assert!(
            self.logs(needle, count),
            "never logged {needle:?} {count} times: {}",
            self.output()
        );
    }

    /// Sends the signal `name` (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Sends SIGHUP.
    pub fn hup(&self) {
        self.signal("HUP");
    }

    /// Waits (at most [`DEADLINE`]) for the process to exit by itself: its exit code, or
    /// `None` if it still runs (or a signal ended it).
    pub fn exit_code(&mut self) -> Option<i32> {
        let mut status = None;
        eventually(|| {
            status = self.child.try_wait().expect("wait");
            status.is_some()
        });
        if status.is_some() {
            self.finish_reading();
        }
        status.and_then(|status| status.code())
    }

    /// Kills the process (if it still runs): its whole output, not checked for secrets.
    pub fn end(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.finish_reading();
        self.output()
    }

    /// [`Process::end`], asserting that no made-up secret is in the output.
    pub fn stop(self) -> String {
        let out = self.end();
        assert_no_secret_in(&out);
        out
    }

    /// [`Process::exit_code`] and [`Process::stop`]: how the process ended by itself within
    /// [`DEADLINE`], and its whole output, checked for secrets.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let code = self.exit_code();
        (code, self.stop())
    }

    /// Waits for the reader threads, which end with the process's output.
    fn finish_reading(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process started by hand (other streams or a shell around it than
/// [`Process`] gives), killed on drop: a test that fails halfway leaves no server behind.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
