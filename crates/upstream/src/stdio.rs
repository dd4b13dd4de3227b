//! A stdio server process: spawning, the reader/writer/stderr tasks, and the stop sequence
//! (close stdin → SIGTERM → SIGKILL, to the whole process group).

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::Mutex;
use switchboard_config::ServerConfig;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, FramedRead};
use tokio_util::sync::CancellationToken;

use crate::mux::Mux;

/// Longest line (one JSON-RPC message) accepted from a server.
const MAX_LINE: usize = 64 * 1024 * 1024;
/// Recent stderr lines kept to explain a failed start.
const STDERR_TAIL: usize = 8;

pub(crate) struct Process {
    pub child: Child,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

pub(crate) fn spawn(cfg: &ServerConfig) -> std::io::Result<Process> {
    let program = cfg.command.as_deref().unwrap_or_default();
    let mut cmd = Command::new(program);
    cmd.args(&cfg.args)
        .envs(&cfg.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Own process group, so a stop signal reaches wrappers' children too (npx → node).
        .process_group(0);
    if let Some(cwd) = &cfg.cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn()?;
    let missing = || std::io::Error::other("child process has no stdio pipe");
    Ok(Process {
        stdin: child.stdin.take().ok_or_else(missing)?,
        stdout: child.stdout.take().ok_or_else(missing)?,
        stderr: child.stderr.take().ok_or_else(missing)?,
        child,
    })
}

/// Write queued messages, one per line. Closing `close` (or the channel) closes stdin.
pub(crate) async fn write_loop(
    mut stdin: ChildStdin,
    mut rx: mpsc::Receiver<Vec<u8>>,
    close: CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = close.cancelled() => None,
        };
        let Some(mut msg) = msg else { break };
        msg.push(b'\n');
        if stdin.write_all(&msg).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
    let _ = stdin.shutdown().await;
}

/// Read messages until EOF. Lines that are not JSON-RPC are logged and skipped: a server that
/// prints to stdout by mistake does not take its connection down.
pub(crate) async fn read_loop(server: Arc<str>, stdout: ChildStdout, mux: Arc<Mux>) {
    // Lines as bytes: invalid UTF-8 is one bad message (answered by the parser), not the end
    // of the connection.
    let codec = AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), Vec::new(), MAX_LINE);
    let mut lines = FramedRead::new(stdout, codec);
    while let Some(line) = lines.next().await {
        match line {
            Ok(line) => {
                let trimmed = line.trim_ascii();
                if trimmed.is_empty() {
                    continue;
                }
                match switchboard_protocol::parse_message(trimmed) {
                    Ok(msg) => mux.handle_incoming(msg),
                    Err(f) => tracing::warn!(
                        server = %server,
                        error = %f.error.message,
                        line = %preview(&String::from_utf8_lossy(trimmed)),
                        "upstream wrote a line on stdout that is not a JSON-RPC message; ignored"
                    ),
                }
            }
            Err(AnyDelimiterCodecError::MaxChunkLengthExceeded) => tracing::warn!(
                server = %server,
                "upstream wrote a line over {MAX_LINE} bytes on stdout; ignored"
            ),
            Err(AnyDelimiterCodecError::Io(e)) => {
                tracing::debug!(server = %server, error = %e, "reading upstream stdout failed");
                break;
            }
        }
    }
}

/// Log stderr lines, and keep the last few to explain a failure.
pub(crate) async fn stderr_loop(
    server: Arc<str>,
    stderr: ChildStderr,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "switchboard::upstream::stderr", server = %server, "{}", preview(&line));
        let mut t = tail.lock();
        if t.len() == STDERR_TAIL {
            t.pop_front();
        }
        t.push_back(line);
    }
}

fn preview(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Stop the process: stdin is closed by the caller first; wait `grace`, SIGTERM the group,
/// wait `grace`, SIGKILL.
pub(crate) async fn stop(
    server: &str,
    child: &mut Child,
    close_stdin: &CancellationToken,
    grace: Duration,
) {
    close_stdin.cancel();
    if tokio::time::timeout(grace, child.wait()).await.is_ok() {
        return;
    }
    if let Some(pid) = child.id() {
        tracing::info!(
            server,
            pid,
            "upstream did not exit after stdin closed; sending SIGTERM"
        );
        signal_group(pid, nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
        tracing::warn!(server, pid, "upstream ignored SIGTERM; sending SIGKILL");
        signal_group(pid, nix::sys::signal::Signal::SIGKILL);
    }
    let _ = child.kill().await;
}

fn signal_group(pid: u32, sig: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let pgid = nix::unistd::Pid::from_raw(pid);
        if nix::sys::signal::killpg(pgid, sig).is_err() {
            let _ = nix::sys::signal::kill(pgid, sig);
        }
    }
}
