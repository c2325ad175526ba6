//! What a function's process has used: CPU time and peak memory, read from outside it.
//!
//! Lambda bills duration, but what a warm invocation costs the machine is CPU time: the
//! handler's own work plus the runtime's (the Runtime API client, the SDK's request pipeline, log
//! formatting). It is read here as the kernel counts it for the whole process, every thread
//! included, through the process's CPU-time clock (`clock_getcpuclockid`): nanoseconds, where
//! `/proc/<pid>/stat` counts 10 ms ticks. The difference of two readings around a run of warm
//! invocations, divided by their number, is the CPU per warm invocation.
//!
//! Peak memory is `VmHWM` (the resident set's high-water mark) from `/proc/<pid>/status`: what
//! Lambda's `REPORT` line calls "Max Memory Used".

use std::time::Duration;

/// The CPU time (user + system, every thread) process `pid` has used so far.
pub fn cpu_time(pid: u32) -> std::io::Result<Duration> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid place for the clock id; the call only writes it.
    let status = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    if status != 0 {
        return Err(std::io::Error::from_raw_os_error(status));
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

/// The peak resident memory of process `pid`, in bytes (`VmHWM`).
pub fn peak_rss(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kilobytes| kilobytes.trim().parse::<u64>().ok())
        .map(|kilobytes| kilobytes * 1024)
        .ok_or_else(|| std::io::Error::other(format!("no VmHWM in /proc/{pid}/status")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_cpu_and_memory() {
        let pid = std::process::id();
        let before = cpu_time(pid).unwrap();
        // Some work the clock must see.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time(pid).unwrap() > before);
        assert!(peak_rss(pid).unwrap() > 1024 * 1024);
    }
}
