//! Generated container names, Docker style (`adjective_noun`), for containers
//! started without `--name`. It only makes up names; `Containers::create`
//! decides whether one is free.

use rand::seq::SliceRandom;

const ADJECTIVES: &[&str] = &[
    "admiring",
    "bold",
    "brave",
    "busy",
    "calm",
    "clever",
    "cool",
    "dreamy",
    "eager",
    "elated",
    "fervent",
    "focused",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "loving",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "trusting",
    "upbeat",
    "vibrant",
    "wizardly",
    "zealous",
];

/// Scientists and engineers, as in Docker's list.
const NOUNS: &[&str] = &[
    "babbage",
    "bell",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "faraday",
    "fermi",
    "galois",
    "gauss",
    "hamilton",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamport",
    "lovelace",
    "maxwell",
    "meitner",
    "mirzakhani",
    "newton",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "thompson",
    "turing",
    "wozniak",
    "yalow",
];

/// A random `adjective_noun` for which `taken` is false; after many
/// collisions a digit suffix is added, as Docker does.
///
/// Drawn straight from the kernel: `thread_rng` would seed a ChaCha
/// generator whose first use probes the CPU with CPUID instructions, which
/// trap to the hypervisor in a virtual machine (tens of microseconds each,
/// at every `run`).
pub fn generate(taken: impl Fn(&str) -> bool) -> String {
    let mut rng = rand::rngs::OsRng;
    let mut attempt = 0u32;
    loop {
        let a = ADJECTIVES.choose(&mut rng).copied().unwrap_or("busy");
        let n = NOUNS.choose(&mut rng).copied().unwrap_or("turing");
        let name = if attempt < 20 {
            format!("{a}_{n}")
        } else {
            format!("{a}_{n}{attempt}")
        };
        if !taken(&name) {
            return name;
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_names_avoid_taken_ones() {
        let first = super::generate(|_| false);
        assert!(super::super::check_name(&first).is_ok());
        let other = super::generate(|n| !n.chars().any(|c| c.is_ascii_digit()));
        assert!(other.chars().any(|c| c.is_ascii_digit()), "{other}");
    }
}
