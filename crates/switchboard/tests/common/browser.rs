//! A headless Chromium on the admin dashboard, driven one command at a time
//! (tests/harness/clients/dashboard.mjs): the test acts on the gateway between commands (kills
//! an upstream, revokes a key) and sees what the page shows next.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::Value;

pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Browser {
    /// Chromium with the dashboard of the admin listener at `admin` open; screenshots go to
    /// `shots`.
    pub fn open(admin: &str, shots: &Path) -> Browser {
        let mut child = Command::new(super::node())
            .current_dir(super::harness())
            .arg(super::harness().join("clients/dashboard.mjs"))
            .arg(admin)
            .arg(shots)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node dashboard.mjs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut b = Browser {
            child,
            stdin,
            lines,
        };
        let opened = b.run(serde_json::json!({"do": "open"}));
        assert_eq!(opened["title"], "Switchboard admin", "{opened}");
        b
    }

    /// Run one command (`{"do": NAME, …}`); its answer. A command that failed in the page
    /// fails the test with what it said (and `failed.png` in the screenshot directory).
    pub fn run(&mut self, cmd: Value) -> Value {
        let answer = self.try_run(&cmd);
        assert!(answer.get("failed").is_none(), "{cmd}: {answer}");
        answer
    }

    /// Run one command; its answer, `failed` included.
    pub fn try_run(&mut self, cmd: &Value) -> Value {
        writeln!(self.stdin, "{cmd}").expect("the browser driver is gone");
        self.stdin.flush().unwrap();
        match self.lines.recv_timeout(Duration::from_secs(90)) {
            Ok(line) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")),
            Err(RecvTimeoutError::Timeout) => panic!("{cmd}: no answer from the browser in 90 s"),
            Err(RecvTimeoutError::Disconnected) => panic!("{cmd}: the browser driver exited"),
        }
    }

    /// Sign in with `key`; the answer (`signedIn`, `who`, `error`).
    pub fn sign_in(&mut self, key: &str) -> Value {
        self.run(serde_json::json!({"do": "signIn", "key": key}))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
