//! The user's programs (`system.processes`), each run under a small supervisor — the `chaos`
//! binary itself, as `chaos __supervise` — so that no program outlives the runner:
//!
//! - the supervisor starts the program in a process group of its own (stdout and stderr to
//!   files in the report folder) and prints its pid;
//! - it holds its stdin open to the runner: when the runner ends in any way, SIGKILL included,
//!   the kernel closes that pipe and the supervisor kills the program's whole group;
//! - a `kill` fault is a SIGKILL to the group, `pause` a SIGSTOP, its end a SIGCONT; the
//!   supervisor then exits with the program.
//!
//! Why a supervisor rather than `PR_SET_PDEATHSIG` in the child: the program is not ours to
//! change, and setting it between fork and exec takes `unsafe` (`pre_exec`), which this crate
//! forbids.

use crate::experiment::system::{Program, Ready};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

/// The program that supervises: the `chaos` binary and the arguments before the supervisor's.
#[derive(Clone, Debug)]
pub struct Supervisor {
    /// The program.
    pub program: PathBuf,
    /// Its first arguments (`__supervise`).
    pub args: Vec<String>,
}

/// A program running under its supervisor.
struct Running {
    supervisor: Child,
    /// Held open: the supervisor kills the program when it closes.
    _stdin: ChildStdin,
    /// The program's pid, which is its process group's id.
    group: Pid,
}

/// One declared program.
struct Slot {
    program: Program,
    cwd: PathBuf,
    logs: PathBuf,
    supervisor: Supervisor,
    live: tokio::sync::Mutex<Option<Running>>,
    /// A restart planned by a `kill` with `restart_after`.
    pending: Mutex<Option<JoinHandle<()>>>,
    paused: Mutex<bool>,
}

/// Every declared program, by name.
#[derive(Default)]
pub(super) struct Programs {
    slots: BTreeMap<String, Arc<Slot>>,
}

impl Programs {
    /// Starts every program in order, each ready before the next; on a failure the ones
    /// started are stopped and the error names the program.
    pub async fn start(
        programs: &[Program],
        base: &Path,
        logs: &Path,
        supervisor: Option<&Supervisor>,
    ) -> Result<Self, String> {
        let mut out = Programs::default();
        if programs.is_empty() {
            return Ok(out);
        }
        let Some(supervisor) = supervisor else {
            return Err(
                "`system.processes` needs the chaos binary to supervise programs (run it with `chaos run`)".into()
            );
        };
        std::fs::create_dir_all(logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
        for p in programs {
            let slot = Arc::new(Slot {
                program: p.clone(),
                // Absolute: the supervisor resolves the program's path against it after moving there.
                cwd: std::path::absolute(base.join(p.cwd.as_deref().unwrap_or(Path::new("."))))
                    .map_err(|e| format!("program `{}`: its folder: {e}", p.name))?,
                logs: logs.to_path_buf(),
                supervisor: supervisor.clone(),
                live: tokio::sync::Mutex::new(None),
                pending: Mutex::new(None),
                paused: Mutex::new(false),
            });
            out.slots.insert(p.name.clone(), slot.clone());
            if let Err(e) = slot.start().await {
                out.shutdown().await;
                return Err(format!("program `{}` (system.processes): {e}", p.name));
            }
        }
        Ok(out)
    }

    /// Whether `name` is a declared program.
    pub fn has(&self, name: &str) -> bool {
        self.slots.contains_key(name)
    }

    fn slot(&self, name: &str) -> Result<&Arc<Slot>, String> {
        self.slots.get(name).ok_or_else(|| format!("`{name}` is not a program of `system.processes`"))
    }

    /// Every program still runs.
    pub fn check(&self) -> Result<(), String> {
        for (name, slot) in &self.slots {
            let mut live = slot.live.try_lock().map_err(|_| format!("program `{name}` is being restarted"))?;
            match live.as_mut().map(|r| r.supervisor.try_wait()) {
                Some(Ok(None)) => {}
                _ => return Err(format!("program `{name}` is not running (see {})", slot.log("stderr").display())),
            }
        }
        Ok(())
    }

    /// SIGKILLs the program's group; it runs again after `restart_after`, if given.
    pub async fn kill(&self, name: &str, restart_after: Option<Duration>) -> Result<(), String> {
        let slot = self.slot(name)?.clone();
        slot.stop().await;
        if let Some(after) = restart_after {
            let again = slot.clone();
            let task = tokio::spawn(async move {
                tokio::time::sleep(after).await;
                if let Err(e) = again.start().await {
                    tracing::warn!(program = %again.program.name, error = %e, "the program did not come back");
                }
            });
            *slot.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        Ok(())
    }

    /// Runs a killed program again (now, if its planned restart has not come yet).
    pub async fn restart(&self, name: &str) -> Result<(), String> {
        let slot = self.slot(name)?;
        if let Some(task) = slot.pending.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        if slot.live.lock().await.is_some() {
            return Ok(());
        }
        slot.start().await.map_err(|e| format!("program `{name}` did not come back: {e}"))
    }

    /// SIGSTOPs the program's group.
    pub fn pause(&self, name: &str) -> Result<(), String> {
        self.slot(name)?.signal(Signal::SIGSTOP, true)
    }

    /// SIGCONTs the program's group.
    pub fn resume(&self, name: &str) -> Result<(), String> {
        self.slot(name)?.signal(Signal::SIGCONT, false)
    }

    /// Resumes paused programs and runs killed ones again.
    pub async fn heal(&self) {
        for name in self.slots.keys() {
            let _ = self.resume(name);
            let _ = self.restart(name).await;
        }
    }

    /// Stops every program.
    pub async fn shutdown(&self) {
        for slot in self.slots.values() {
            if let Some(task) = slot.pending.lock().unwrap_or_else(|p| p.into_inner()).take() {
                task.abort();
            }
            slot.stop().await;
        }
    }
}

impl Slot {
    fn log(&self, stream: &str) -> PathBuf {
        self.logs.join(format!("{}.{stream}.log", self.program.name))
    }

    /// Runs the program under its supervisor and waits until it is ready.
    async fn start(&self) -> Result<(), String> {
        let (program, args) = self.program.run.split_first().ok_or("`run` is empty")?;
        let mut cmd = Command::new(&self.supervisor.program);
        cmd.args(&self.supervisor.args)
            .arg("--stdout")
            .arg(self.log("stdout"))
            .arg("--stderr")
            .arg(self.log("stderr"))
            .arg("--cwd")
            .arg(&self.cwd)
            .arg("--")
            .arg(program)
            .args(args)
            .envs(&self.program.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut supervisor = cmd.spawn().map_err(|e| format!("cannot run the supervisor: {e}"))?;
        let stdin = supervisor.stdin.take().ok_or("no stdin")?;
        let stdout = supervisor.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        match tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Err("its supervisor said nothing within 10 s".into()),
        }
        let group = match line.trim().strip_prefix("PID ").and_then(|p| p.parse::<i32>().ok()) {
            Some(pid) => Pid::from_raw(pid),
            None => return Err(line.trim().strip_prefix("ERROR ").unwrap_or(line.trim()).to_string()),
        };
        *self.live.lock().await = Some(Running { supervisor, _stdin: stdin, group });
        *self.paused.lock().unwrap_or_else(|p| p.into_inner()) = false;
        if let Some(Err(e)) = match &self.program.ready {
            Some(ready) => Some(self.wait_ready(ready).await),
            None => None,
        } {
            self.stop().await;
            return Err(e);
        }
        Ok(())
    }

    /// Polls `ready` until it holds, the program exits, or `within` passes.
    async fn wait_ready(&self, ready: &Ready) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + ready.within;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().map_err(|e| e.to_string())?;
        loop {
            let up = match (&ready.http, &ready.tcp) {
                (Some(url), _) => http.get(url).send().await.is_ok_and(|r| r.status().as_u16() < 500),
                (None, Some(addr)) => tokio::net::TcpStream::connect(addr).await.is_ok(),
                (None, None) => true,
            };
            if up {
                return Ok(());
            }
            let exited = match self.live.lock().await.as_mut() {
                Some(r) => !matches!(r.supervisor.try_wait(), Ok(None)),
                None => true,
            };
            if exited {
                return Err(format!("it exited before it was ready (see {})", self.log("stderr").display()));
            }
            if tokio::time::Instant::now() >= deadline {
                let what = ready.http.as_deref().or(ready.tcp.as_deref()).unwrap_or("?");
                return Err(format!("not ready within {} ({what})", humantime::format_duration(ready.within)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILLs the program's group and waits for its supervisor to exit.
    async fn stop(&self) {
        let Some(mut running) = self.live.lock().await.take() else { return };
        let _ = killpg(running.group, Signal::SIGKILL);
        if tokio::time::timeout(Duration::from_secs(5), running.supervisor.wait()).await.is_err() {
            let _ = running.supervisor.kill().await;
        }
    }

    fn signal(&self, signal: Signal, pausing: bool) -> Result<(), String> {
        let live = self.live.try_lock().map_err(|_| format!("`{}` is being restarted", self.program.name))?;
        let Some(running) = live.as_ref() else {
            return if pausing { Err(format!("program `{}` is not running", self.program.name)) } else { Ok(()) };
        };
        let mut paused = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        if *paused == pausing {
            return Ok(());
        }
        killpg(running.group, signal).map_err(|e| format!("{signal} to `{}`: {e}", self.program.name))?;
        *paused = pausing;
        Ok(())
    }
}

/// `chaos __supervise --stdout F --stderr F --cwd DIR -- PROGRAM ARGS...`: runs the program in
/// a process group of its own, prints `PID n` (or `ERROR why`), and kills the group when stdin
/// closes or the program exits. Returns the exit code.
pub fn supervise(args: &[String]) -> u8 {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    let mut out = std::io::stdout();
    let fail = |out: &mut std::io::Stdout, why: String| {
        let _ = writeln!(out, "ERROR {why}");
        2
    };
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let (Some(stdout), Some(stderr), Some(cwd), Some(dash)) =
        (value("--stdout"), value("--stderr"), value("--cwd"), args.iter().position(|a| a == "--"))
    else {
        return fail(&mut out, "usage: __supervise --stdout F --stderr F --cwd DIR -- PROGRAM ARGS...".into());
    };
    let Some((program, rest)) = args[dash + 1..].split_first() else {
        return fail(&mut out, "no program".into());
    };
    let open = |p: &str| std::fs::OpenOptions::new().create(true).append(true).open(p);
    let (Ok(o), Ok(e)) = (open(stdout), open(stderr)) else {
        return fail(&mut out, format!("cannot open {stdout} or {stderr}"));
    };
    // A program named with a `/` but not absolute counts from its working directory.
    let program = if program.contains('/') { Path::new(cwd).join(program) } else { PathBuf::from(program) };
    let child = std::process::Command::new(&program)
        .args(rest)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(o)
        .stderr(e)
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return fail(&mut out, format!("cannot run {}: {e}", program.display())),
    };
    let group = Pid::from_raw(child.id() as i32);
    let _ = writeln!(out, "PID {group}");
    let _ = out.flush();
    // The runner's end of stdin closes when it exits, however it exits.
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = killpg(group, Signal::SIGKILL);
    });
    let status = child.wait();
    // What the program left in its group (workers of a master process) goes with it.
    let _ = killpg(group, Signal::SIGKILL);
    status.ok().and_then(|s| s.code()).map_or(1, |c| c.clamp(0, 255) as u8)
}
