//! The machine and the build a report was measured on: figures mean little without them.

use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub kernel: String,
    pub arch: &'static str,
    pub rustc: String,
    pub python: String,
    pub commit: String,
    pub date: String,
}

impl Machine {
    pub fn describe(workspace: &Path) -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split(':').nth(1))
                .map(|value| value.trim().to_owned())
                .unwrap_or_else(|| "unknown".into())
        };
        let run = |program: &Path, args: &[&str]| {
            Command::new(program)
                .args(args)
                .current_dir(workspace)
                .output()
                .ok()
                .filter(|output| output.status.success())
                .map(|output| {
                    let text = if output.stdout.is_empty() {
                        output.stderr
                    } else {
                        output.stdout
                    };
                    String::from_utf8_lossy(&text).trim().to_owned()
                })
                .unwrap_or_else(|| "unknown".into())
        };
        let memory_kb: u64 = field(&read("/proc/meminfo"), "MemTotal")
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap_or(0);
        Self {
            cpu: field(&read("/proc/cpuinfo"), "model name"),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory: format!("{:.0} GiB", memory_kb as f64 / 1024.0 / 1024.0),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            arch: std::env::consts::ARCH,
            rustc: run(Path::new("rustc"), &["--version"]),
            python: run(&workspace.join(".venv/bin/python"), &["--version"]),
            commit: run(Path::new("git"), &["rev-parse", "--short", "HEAD"]),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}
