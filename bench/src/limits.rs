//! How many sessions this machine can hold: open files and ephemeral ports.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// File descriptors either process needs besides one per session (runtime, pipes, REST pool).
const FD_OVERHEAD: u64 = 256;
/// Ephemeral ports left for everything else on the machine.
const PORT_RESERVE: u64 = 1000;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit if `sessions` need it (the server child
/// inherits it), and returns how many sessions fit (even, at most `sessions`), saying why
/// when it is fewer.
pub(crate) fn fit_sessions(sessions: u64) -> u64 {
    let mut fit = sessions;
    let need = sessions + FD_OVERHEAD;
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let mut usable = soft;
    if soft < need && soft < hard {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                usable = hard;
                println!("open files: raised the soft limit from {soft} to {hard}");
            }
            Err(e) => println!("open files: cannot raise the soft limit {soft} to {hard}: {e}"),
        }
    }
    if usable < need {
        fit = usable.saturating_sub(FD_OVERHEAD);
        println!(
            "open files: the limit is {usable} per process; {sessions} sessions need about {need} \
             (one socket each in the bench and in the server); running {fit} sessions instead \
             (raise it with `ulimit -n` before running)",
        );
    }
    if let Some(ports) = ephemeral_ports() {
        let port_fit = ports.saturating_sub(PORT_RESERVE);
        if port_fit < fit {
            println!(
                "ephemeral ports: {ports} in net.ipv4.ip_local_port_range, one per client socket \
                 to the same server address; running {port_fit} sessions instead",
            );
            fit = port_fit;
        }
    }
    fit & !1
}

fn ephemeral_ports() -> Option<u64> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = range.split_whitespace().map(|n| n.parse::<u64>().ok());
    let (low, high) = (bounds.next()??, bounds.next()??);
    Some(high.saturating_sub(low) + 1)
}
