//! The scripted network conditions and what the check should say about each: the verdict and
//! the set of reason codes `assistrtc_core::diagnostics::assess` gives for such a network.

use crate::relay::Impairment;

/// How the client may reach the server's media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Through the impairment relay; no TURN server.
    Direct,
    /// The relay drops everything the client sends itself (only the TURN server's relay
    /// ports get through); TURN as given.
    UdpBlocked(Turn),
    /// Nothing listens at the server's address.
    Unreachable,
}

/// The TURN server offered when UDP is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// None configured.
    None,
    /// `turn:…?transport=tcp` on coturn's port; coturn runs no UDP listener.
    Tcp,
    /// Only a second listener, coturn's TLS port (TLS, or plain TCP on the same port):
    /// `turns:` and `turn:…?transport=tcp` URLs naming it; no UDP listener.
    TlsOrTcp,
    /// `turn:…?transport=udp`: the client's UDP reaches the TURN server, not the media server.
    Udp,
}

/// One scripted condition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Condition {
    /// Short name, for `--only` and the tables.
    pub(crate) name: &'static str,
    /// What it is, in words.
    pub(crate) what: &'static str,
    /// Applied to each direction alike.
    pub(crate) link: Impairment,
    pub(crate) path: Path,
    /// The verdict the check should give.
    pub(crate) verdict: &'static str,
    /// The reason codes it should give (a set: order is not compared).
    pub(crate) reasons: &'static [&'static str],
}

/// 40 ms of jitter each way: 40 ms delay plus a normal draw with sd 41 ms per datagram. A
/// draw below −40 ms is clamped (nothing arrives before it is sent), which narrows the spread;
/// with sd 41 ms the mean |d₁ − d₂| of two datagrams' delays, the RFC 3550 interarrival jitter
/// the check reports, is 40 ms (for unclamped draws it would be 2σ/√π). The relay's
/// calibration test measures it.
pub(crate) const JITTER_40: Impairment = Impairment {
    loss_pct: 0.0,
    delay_ms: 40.0,
    jitter_sd_ms: 41.0,
    rate_kbps: None,
};

pub(crate) const CLEAN: Impairment = Impairment {
    loss_pct: 0.0,
    delay_ms: 0.0,
    jitter_sd_ms: 0.0,
    rate_kbps: None,
};

/// Every condition, in the order they run.
pub(crate) fn all() -> Vec<Condition> {
    let lossy = |loss_pct| Impairment { loss_pct, ..CLEAN };
    // Half the round trip each way.
    let delayed = |rtt_ms: f64| Impairment {
        delay_ms: rtt_ms / 2.0,
        ..CLEAN
    };
    let capped = |kbps| Impairment {
        rate_kbps: Some(kbps),
        ..CLEAN
    };
    let direct = |name, what, link, verdict, reasons| Condition {
        name,
        what,
        link,
        path: Path::Direct,
        verdict,
        reasons,
    };
    let blocked = |name, what, turn, verdict, reasons| Condition {
        name,
        what,
        link: CLEAN,
        path: Path::UdpBlocked(turn),
        verdict,
        reasons,
    };
    vec![
        direct("clean", "no impairment", CLEAN, "good", &[]),
        direct(
            "loss-3",
            "3 % random loss each way",
            lossy(3.0),
            "fair",
            &["packet_loss"],
        ),
        direct(
            "loss-10",
            "10 % random loss each way",
            lossy(10.0),
            "poor",
            &["packet_loss"],
        ),
        direct(
            "rtt-150",
            "150 ms round trip (75 ms each way)",
            delayed(150.0),
            "fair",
            &["high_rtt"],
        ),
        direct(
            "rtt-300",
            "300 ms round trip (150 ms each way)",
            delayed(300.0),
            "poor",
            &["high_rtt"],
        ),
        direct(
            "jitter-40",
            "40 ms jitter (RFC 3550) each way: 40 ms delay + normal, sd 41 ms",
            JITTER_40,
            "fair",
            &["high_jitter"],
        ),
        direct(
            "cap-500",
            "500 kbps cap each way (200 ms drop-tail queue)",
            capped(500.0),
            "fair",
            &["low_upload", "low_download"],
        ),
        direct(
            "cap-300",
            "300 kbps cap each way (200 ms drop-tail queue)",
            capped(300.0),
            "poor",
            &["low_upload", "low_download"],
        ),
        blocked(
            "udp-blocked-turn-tcp",
            "UDP blocked; TURN over TCP",
            Turn::Tcp,
            "fair",
            &["udp_blocked"],
        ),
        blocked(
            "udp-blocked-turn-tls",
            "UDP blocked; TURN only on a second (TLS) listener, TLS or TCP",
            Turn::TlsOrTcp,
            "fair",
            &["udp_blocked"],
        ),
        blocked(
            "udp-blocked-no-turn",
            "UDP blocked; no TURN",
            Turn::None,
            "poor",
            &["no_media_path"],
        ),
        Condition {
            name: "unreachable",
            what: "nothing listens at the server's address",
            link: CLEAN,
            path: Path::Unreachable,
            verdict: "poor",
            reasons: &["server_unreachable"],
        },
        direct(
            "rtt-150-loss-3",
            "150 ms round trip and 3 % loss each way",
            Impairment {
                loss_pct: 3.0,
                ..delayed(150.0)
            },
            "fair",
            &["high_rtt", "packet_loss"],
        ),
        // assess: a working TURN/UDP relay is not a `udp_blocked` finding.
        blocked(
            "direct-blocked-turn-udp",
            "UDP to the media server blocked; TURN over UDP reachable",
            Turn::Udp,
            "good",
            &[],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_expectations_use_known_verdicts() {
        let all = all();
        let mut names: Vec<_> = all.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert!(all.len() >= 12);
        for c in &all {
            assert!(["good", "fair", "poor"].contains(&c.verdict), "{}", c.name);
        }
    }
}
