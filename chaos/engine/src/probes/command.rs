//! A command probe's sample: the program run with its argv (no shell), killed at its timeout,
//! judged by its exit code and standard output.

use super::Reading;
use crate::experiment::probe::CommandProbe;
use std::path::Path;
use std::process::Stdio;

/// Most of a program's output kept to judge it.
const MAX_OUTPUT: usize = 1 << 20;

/// Runs the probe's program from `base` (the experiment's folder) and judges its run.
pub(super) async fn read(p: &CommandProbe, base: &Path) -> Reading {
    let Some((program, args)) = p.run.split_first() else { return Reading::Error("no program to run".into()) };
    let cwd = base.join(p.cwd.as_deref().unwrap_or(Path::new(".")));
    // A relative program path is relative to the working folder, as a shell there would see it.
    let program = if program.contains('/') { cwd.join(program) } else { program.into() };
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(args)
        .envs(&p.env)
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Reading::Error(format!("cannot run {}: {e}", program.display())),
    };
    let output = match tokio::time::timeout(p.timeout, child.wait_with_output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Reading::Error(format!("{}: {e}", program.display())),
        // The child is dropped with the future: kill_on_drop ends it.
        Err(_) => return Reading::Error(format!("still running after {:?}: killed", p.timeout)),
    };
    let stdout = String::from_utf8_lossy(&output.stdout[..output.stdout.len().min(MAX_OUTPUT)]).into_owned();
    judge(p, output.status.code(), &stdout)
}

/// Whether the exit code and the output meet the probe's `expect`.
fn judge(p: &CommandProbe, code: Option<i32>, stdout: &str) -> Reading {
    let e = &p.expect;
    let Some(code) = code else { return Reading::Judged { pass: false, detail: "killed by a signal".into() } };
    if code != e.exit_code {
        return Reading::Judged { pass: false, detail: format!("exit code {code}, expected {}", e.exit_code) };
    }
    if let Some(text) = &e.stdout_contains
        && !stdout.contains(text.as_str())
    {
        return Reading::Judged { pass: false, detail: format!("exit code {code}, output without `{text}`") };
    }
    if let Some(pattern) = &e.stdout_matches {
        // Checked by the validator; a pattern that does not compile never matches.
        let matched = regex::Regex::new(pattern).is_ok_and(|re| re.is_match(stdout));
        if !matched {
            return Reading::Judged {
                pass: false,
                detail: format!("exit code {code}, output not matching /{pattern}/"),
            };
        }
    }
    Reading::Judged { pass: true, detail: format!("exit code {code}") }
}
