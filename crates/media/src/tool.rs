//! The one wrapper for external programs (`ffmpeg`, `ffprobe`, `pdftoppm`; style.md
//! principle 11). Every child gets no standard input, a deadline after which it is killed,
//! and a stderr reader that keeps only the last [`STDERR_KEEP`] bytes, whose last lines go
//! into the error. A [`Running`] child is killed and reaped when dropped, so an early
//! return or a panic in the reader never leaves a process behind.
//!
//! Nothing of these programs is linked into the binary: they are found on `PATH` at run
//! time, and a missing one is reported with the package that brings it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{MediaError, Result};

/// How much of a tool's stderr is kept (its tail).
pub const STDERR_KEEP: usize = 64 * 1024;

/// The Debian package that brings `program`, for the message when it is missing.
pub fn package_of(program: &str) -> &'static str {
    match program {
        "ffmpeg" | "ffprobe" => "ffmpeg",
        "pdftoppm" | "pdfinfo" => "poppler-utils",
        "git" => "git",
        _ => "the package that provides it",
    }
}

/// Where `program` is on `PATH`, if it is there and executable.
pub fn find(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The error for a program that is not installed.
pub fn missing(program: &str) -> MediaError {
    MediaError::Unsupported(format!(
        "{program} is not installed on the server: install it (Debian: apt-get install {}) \
         to use this kind of data",
        package_of(program)
    ))
}

/// A command for `program` with the arguments `args`.
pub fn command<I, S>(program: &str, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

/// A started child: its stdout to read, its stderr collected on a thread, and a
/// watchdog that kills it at the deadline.
pub struct Running {
    program: String,
    child: Arc<Mutex<Child>>,
    stdout: Option<ChildStdout>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    /// Dropping this sender (or sending) stops the watchdog.
    stop_watchdog: Option<mpsc::Sender<()>>,
    watchdog: Option<JoinHandle<bool>>,
    timeout: Duration,
}

/// Starts `cmd` with stdout piped (to read with [`Running::stdout`]) and the deadline
/// `timeout`.
pub fn spawn(mut cmd: Command, timeout: Duration) -> Result<Running> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    // A child outlives nothing: if the server dies (SIGKILL, OOM), the kernel kills the
    // child too, so that no orphaned ffmpeg goes on writing chunks into a data folder
    // that the restarted server processes again. The signal follows the thread that
    // spawned the child, which is the thread that reads and reaps it.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => missing(&program),
        _ => MediaError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot start {program}: {e}"),
        )),
    })?;
    let stdout = child.stdout.take();
    let mut stderr_pipe = child.stderr.take();
    let stderr = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        if let Some(pipe) = stderr_pipe.as_mut() {
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > STDERR_KEEP {
                    kept.drain(..kept.len() - STDERR_KEEP);
                }
            }
        }
        kept
    });
    let child = Arc::new(Mutex::new(child));
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let watched = Arc::clone(&child);
    let watchdog = std::thread::spawn(move || {
        match stop_rx.recv_timeout(timeout) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = lock(&watched).kill();
                true
            }
            // stopped, or the owner is gone (then Drop kills)
            _ => false,
        }
    });
    Ok(Running {
        program,
        child,
        stdout,
        stderr: Some(stderr),
        stop_watchdog: Some(stop_tx),
        watchdog: Some(watchdog),
        timeout,
    })
}

fn lock(child: &Mutex<Child>) -> std::sync::MutexGuard<'_, Child> {
    child.lock().unwrap_or_else(|e| e.into_inner())
}

impl Running {
    /// The child's standard output.
    pub fn stdout(&mut self) -> &mut ChildStdout {
        self.stdout.as_mut().expect("stdout is piped until finish")
    }

    /// Takes the child's standard output, to read it apart from this handle (which still
    /// owns the child, its deadline and its stderr).
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.stdout.take().expect("stdout is piped and taken once")
    }

    /// The program's name, for messages.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Waits for the child to exit (closing our end of stdout first, so a child that
    /// still writes gets a broken pipe instead of blocking). Fails with the tail of its
    /// stderr when it exited with an error, was killed at the deadline, or died by a
    /// signal. Returns its stderr otherwise.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.stdout = None;
        let status = self.wait();
        let timed_out = self.stop();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let status = status?;
        if timed_out {
            return Err(MediaError::Corrupt(format!(
                "{} took longer than {} s and was stopped",
                self.program,
                self.timeout.as_secs()
            )));
        }
        if !status.success() {
            return Err(MediaError::Corrupt(failure(&self.program, status, &stderr)));
        }
        Ok(stderr)
    }

    /// Polls until the child exits; the lock is released between polls so that the
    /// watchdog can kill it.
    fn wait(&self) -> Result<ExitStatus> {
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = lock(&self.child).try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Stops the watchdog; true if it had killed the child.
    fn stop(&mut self) -> bool {
        if let Some(tx) = self.stop_watchdog.take() {
            let _ = tx.send(());
        }
        self.watchdog
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or(false)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            self.stdout = None;
            {
                let mut child = lock(&self.child);
                let _ = child.kill();
                let _ = child.wait();
            }
            self.stop();
            if let Some(h) = self.stderr.take() {
                let _ = h.join();
            }
        }
    }
}

/// The message for a failed run: the program, how it ended, and the last lines of its
/// stderr.
fn failure(program: &str, status: ExitStatus, stderr: &[u8]) -> String {
    let how = match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "was killed by a signal".to_string(),
    };
    let said = last_lines(stderr, 4);
    if said.is_empty() {
        format!("{program} {how}")
    } else {
        format!("{program} {how}: {said}")
    }
}

/// The last `n` non-empty lines of a tool's output, joined with "; ".
pub fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("; ")
}

/// Runs `cmd` to the end and returns its stdout, at most `max_stdout` bytes (more is an
/// error: the child is killed).
pub fn output(cmd: Command, timeout: Duration, max_stdout: usize) -> Result<Vec<u8>> {
    let mut run = spawn(cmd, timeout)?;
    let mut out = Vec::new();
    run.stdout()
        .take(max_stdout as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > max_stdout {
        return Err(MediaError::TooLarge(format!(
            "{} printed more than {max_stdout} bytes",
            run.program()
        )));
    }
    run.finish()?;
    Ok(out)
}

/// `path` as an argument that a program without protocols (poppler's) never takes for
/// an option: a relative path starts with `./`.
pub fn path_arg(path: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::new();
    if path.is_relative() {
        s.push("./");
    }
    s.push(path);
    s
}

/// `path` as an argument that ffmpeg or ffprobe never takes for an option or a protocol
/// (`-i -x.mp4`, `concat:…`): relative paths get a `./` or the `file:` protocol prefix.
pub fn file_arg(path: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from("file:");
    if path.is_relative() {
        s.push("./");
    }
    s.push(path);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_failure() {
        let out = output(
            command("sh", ["-c", "echo hi"]),
            Duration::from_secs(5),
            100,
        )
        .unwrap();
        assert_eq!(out, b"hi\n");
        let e = output(
            command("sh", ["-c", "echo one >&2; echo two >&2; exit 3"]),
            Duration::from_secs(5),
            100,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "sh exited with status 3: one; two");
        let e = output(command("sh", ["-c", "yes"]), Duration::from_secs(5), 1000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 1000 bytes"), "{e}");
    }

    #[test]
    fn deadline_kills() {
        let t = std::time::Instant::now();
        let e = output(command("sleep", ["30"]), Duration::from_millis(200), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("took longer"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn missing_program_names_its_package() {
        let e = output(
            command("ffmpeg-not-here", ["-v"]),
            Duration::from_secs(1),
            10,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ffmpeg-not-here is not installed"), "{e}");
        assert!(find("sh").is_some());
        assert!(find("ffmpeg-not-here").is_none());
    }

    #[test]
    fn drop_kills_the_child() {
        let mut run = spawn(
            command("sh", ["-c", "echo $$; exec sleep 30"]),
            Duration::from_secs(60),
        )
        .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(run.stdout()), &mut line).unwrap();
        let pid = line.trim().to_string();
        drop(run);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
