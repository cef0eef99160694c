//! Signals as `kill -s`, `--stop-signal` and an image's STOPSIGNAL name
//! them: every number from 1 to SIGRTMAX, and Docker's names (any case,
//! with or without `SIG`, `RTMIN+N` and `RTMAX-N`). nix's `Signal` knows
//! no real-time signals, so a signal here is its number.
//!
//! It does not send anything (`control` does).

use nix::sys::signal::Signal;

/// A signal number from 1 to SIGRTMAX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sig(i32);

impl Sig {
    pub fn number(self) -> i32 {
        self.0
    }
}

impl From<Signal> for Sig {
    fn from(s: Signal) -> Sig {
        Sig(s as i32)
    }
}

impl std::fmt::Display for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match Signal::try_from(self.0) {
            Ok(s) => write!(f, "{s}"),
            Err(_) => write!(f, "signal {}", self.0),
        }
    }
}

/// The highest signal number (64 on Linux).
fn rt_max() -> i32 {
    libc::SIGRTMAX()
}

/// The first real-time signal the C library leaves to programs (34 with
/// glibc, which keeps 32 and 33 for itself); Docker's `RTMIN`.
fn rt_min() -> i32 {
    libc::SIGRTMIN()
}

/// Docker's aliases for the names nix spells otherwise.
const ALIASES: &[(&str, Signal)] = &[
    ("CLD", Signal::SIGCHLD),
    ("IOT", Signal::SIGABRT),
    ("POLL", Signal::SIGIO),
];

/// A word that names no signal, with the highest number this kernel has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signal '{word}': use a name such as TERM, KILL or RTMIN+3, or a number from 1 to {max}")]
pub struct BadSignal {
    pub word: String,
    pub max: i32,
}

impl std::str::FromStr for Sig {
    type Err = BadSignal;

    /// A signal by number or by name (`TERM`, `SIGTERM`, `sigterm`,
    /// `RTMIN+3`, `SIGRTMAX-1`).
    fn from_str(s: &str) -> Result<Sig, BadSignal> {
        let max = rt_max();
        let bad = || BadSignal {
            word: s.to_string(),
            max,
        };
        if let Ok(n) = s.parse::<i32>() {
            return (1..=max).contains(&n).then_some(Sig(n)).ok_or_else(bad);
        }
        let up = s.to_ascii_uppercase();
        let name = up.strip_prefix("SIG").unwrap_or(&up);
        let rt = |base: i32, rest: &str, sign: i32| -> Option<Sig> {
            let off: i32 = match rest {
                "" => 0,
                r => r.parse().ok()?,
            };
            let n = base + sign * off;
            (rt_min()..=max).contains(&n).then_some(Sig(n))
        };
        if let Some(rest) = name.strip_prefix("RTMIN") {
            let rest = rest.strip_prefix('+').unwrap_or(rest);
            return rt(rt_min(), rest, 1).ok_or_else(bad);
        }
        if let Some(rest) = name.strip_prefix("RTMAX") {
            let rest = match rest {
                "" => "",
                r => r.strip_prefix('-').ok_or_else(bad)?,
            };
            return rt(max, rest, -1).ok_or_else(bad);
        }
        if let Some((_, sig)) = ALIASES.iter().find(|(a, _)| *a == name) {
            return Ok(Sig::from(*sig));
        }
        format!("SIG{name}")
            .parse::<Signal>()
            .map(Sig::from)
            .map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<i32, String> {
        s.parse::<Sig>().map(Sig::number).map_err(|e| e.to_string())
    }

    #[test]
    fn names_and_numbers_as_docker_takes_them() {
        assert_eq!(n("TERM"), Ok(15));
        assert_eq!(n("sigkill"), Ok(9));
        assert_eq!(n("SIGHUP"), Ok(1));
        assert_eq!(n("2"), Ok(2));
        assert_eq!(n("64"), Ok(64));
        assert_eq!(n("CLD"), Ok(17));
        assert_eq!(n("RTMIN"), Ok(34));
        assert_eq!(n("SIGRTMIN+3"), Ok(37));
        assert_eq!(n("rtmin+30"), Ok(64));
        assert_eq!(n("RTMAX"), Ok(64));
        assert_eq!(n("RTMAX-1"), Ok(63));
        for bad in [
            "0", "65", "-1", "NOPE", "RTMIN+31", "RTMAX+1", "RTMAX-31", "SIG",
        ] {
            let e = n(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn every_number_up_to_rtmax_is_a_signal() {
        for i in 1..=rt_max() {
            assert_eq!(n(&i.to_string()), Ok(i));
        }
    }
}
