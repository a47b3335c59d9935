//! A temporary directory per test.

use std::path::{Path, PathBuf};

/// A fresh directory `chat-token-<test>-<process id>` in the system's temporary
/// directory, removed (with what is in it) on drop. The test's name and the process id
/// keep it apart from those of the tests running at the same time.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates the directory of the test named `test` (pass the test function's name),
    /// empty: what an earlier run of the same test left there is removed first.
    pub fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!("chat-token-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the test's temporary directory");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` in the directory, whether it exists or not.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `content` to the file `name` in the directory (with the default
    /// permissions), and returns its path as a string, as a flag or variable takes it.
    /// The file is written aside and renamed over `name`, as secret mounts do, so that a
    /// process reading `name` meanwhile finds the old file or the new one, never half.
    pub fn write(&self, name: &str, content: &str) -> String {
        self.put(name, content, None)
    }

    /// [`TempDir::write`], the file's permission bits set to `mode` (on Unix; elsewhere
    /// `mode` is ignored) before it takes the place of `name`.
    pub fn write_with_mode(&self, name: &str, content: &str, mode: u32) -> String {
        self.put(name, content, Some(mode))
    }

    fn put(&self, name: &str, content: &str, mode: Option<u32>) -> String {
        let path = self.join(name);
        let aside = self.join(&format!(".{name}.new"));
        std::fs::write(&aside, content).expect("write a test file");
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(mode))
                .expect("chmod a test file");
        }
        #[cfg(not(unix))]
        let _ = mode;
        std::fs::rename(&aside, &path).expect("rename a test file into place");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
