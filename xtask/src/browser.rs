//! `cargo xtask browser`: the development console of `chat-token serve`, clicked through
//! in a real headless Chromium (Debian's `chromium`, installed when missing) driven by
//! playwright-core (installed under `target/`). Keeps `docs/console.png`.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::process::{CHAT_TOKEN_VARS, cargo, run as run_cmd};

const CHROMIUM: &str = "/usr/bin/chromium";
const PLAYWRIGHT: &str = "playwright-core@1.65.1";

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the browser test.
pub fn run(root: &Path) -> Result<()> {
    if !Path::new(CHROMIUM).exists() {
        run_cmd(Command::new("apt-get").arg("update"))?;
        run_cmd(Command::new("apt-get").args(["install", "-y", "chromium"]))?;
    }
    let modules = root.join("target/xtask-browser");
    if !modules
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        std::fs::create_dir_all(&modules)?;
        run_cmd(Command::new("npm").args([
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            &modules.to_string_lossy(),
            PLAYWRIGHT,
        ]))?;
    }
    run_cmd(cargo().args(["build", "-p", "chat-token"]))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut serve = Command::new(root.join("target/debug/chat-token"));
    serve.args([
        "serve",
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--ttl",
        "12",
    ]);
    for var in CHAT_TOKEN_VARS {
        serve.env_remove(var);
    }
    let _server = Killed(serve.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("chat-token serve did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::create_dir_all(root.join("docs"))?;
    let status = Command::new("node")
        .arg(root.join("xtask/browser/console.test.js"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(root.join("docs/console.png"))
        .env("NODE_PATH", modules.join("node_modules"))
        .env("CHROMIUM", CHROMIUM)
        .status()?;
    if !status.success() {
        bail!("the browser test failed");
    }
    Ok(())
}
