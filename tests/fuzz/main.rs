//! The bounded fuzz run: every target of fuzz/targets.rs gets its kept
//! corpus (fuzz/corpus/<target>/, plus the parser's golden Dockerfiles)
//! and then random mutations of it for `FUZZ_SECONDS` (default 2; CI sets
//! more). A panic, an input that runs longer than `FUZZ_HANG_SECONDS`
//! (default 10) or an allocation beyond 1 GiB live fails the run and saves
//! the input under target/fuzz-crashes/ to be kept in the corpus once
//! fixed. `FUZZ_SEED` replays one run's mutations.

#[path = "../../fuzz/targets.rs"]
mod targets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Live heap bytes above which the run stops: hostile input must not make
/// hutch allocate without bound.
const LIVE_LIMIT: usize = 1 << 30;

struct Capped;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only a
// counter is kept beside it.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size() > LIVE_LIMIT
            && !OVER.load(Ordering::Relaxed)
        {
            over_limit(layout.size());
        }
        // SAFETY: the caller's layout is passed on as it came.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if new > layout.size() {
            let more = new - layout.size();
            if LIVE.fetch_add(more, Ordering::Relaxed) + more > LIVE_LIMIT
                && !OVER.load(Ordering::Relaxed)
            {
                over_limit(new);
            }
        } else {
            LIVE.fetch_sub(layout.size() - new, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

/// The inputs being run (one per test thread), so that the allocation
/// limit and the hang watchdog can save them: (id, target, input, start).
type Running = Vec<(u64, String, Vec<u8>, Instant)>;
static CURRENT: std::sync::Mutex<Running> = std::sync::Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static OVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn over_limit(size: usize) {
    // Once over, allocations go through unchecked so that the inputs can
    // be saved before the run stops.
    if OVER.swap(true, Ordering::SeqCst) {
        return;
    }
    eprintln!("fuzz: an allocation of {size} bytes passed 1 GiB live: unbounded allocation");
    if let Ok(cur) = CURRENT.try_lock() {
        for (_, target, data, _) in cur.iter() {
            let _ = std::fs::write(crash_dir().join(format!("{target}-oom")), data);
        }
    }
    std::process::abort()
}

fn crash_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let _ = std::fs::create_dir_all(&d);
    d
}

fn env_secs(name: &str, default: f64) -> Duration {
    Duration::from_secs_f64(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// The kept corpus of `target`, plus the golden Dockerfiles for the parser.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("fuzz/corpus").join(target))
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    if target == "dockerfile" {
        for e in std::fs::read_dir(root.join("tests/dockerfile")).unwrap() {
            files.push(e.unwrap().path().join("Dockerfile"));
        }
    }
    files.sort();
    let mut out: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

const MAX_INPUT: usize = 64 * 1024;

/// One mutation of `base`: flips, interesting bytes, tokens, cuts, copies
/// and splices with another corpus entry.
fn mutate(rng: &mut Rng, base: &[u8], corpus: &[Vec<u8>], tokens: &[&str]) -> Vec<u8> {
    let mut d = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(d.len() + 1);
        match rng.below(8) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] = *[0u8, 0xff, b'/', b'.', b'\n', b'"', b'0', b'9', 0x80]
                    .get(rng.below(9))
                    .unwrap();
            }
            2 | 3 => {
                let t = tokens[rng.below(tokens.len())].as_bytes();
                d.splice(at..at, t.iter().copied());
            }
            4 if !d.is_empty() => {
                let len = 1 + rng.below((d.len() - at.min(d.len() - 1)).min(64));
                let from = at.min(d.len() - 1);
                d.drain(from..(from + len).min(d.len()));
            }
            5 if !d.is_empty() => {
                let from = rng.below(d.len());
                let len = 1 + rng.below((d.len() - from).min(512));
                let chunk = d[from..from + len].to_vec();
                d.splice(at..at, chunk);
            }
            6 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                let to = from + rng.below(other.len() - from + 1);
                d.splice(at..at, other[from..to].iter().copied());
            }
            _ => {
                let n = rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                d.splice(at..at, bytes);
            }
        }
    }
    d.truncate(MAX_INPUT);
    d
}

/// Run one input, saving it when it panics.
fn one(target: &str, data: &[u8], scratch: &Path) {
    // Only the unpacker writes files; the parsers need no directory.
    let dir = scratch.join("s");
    let writes = target == "unpack";
    if writes {
        std::fs::create_dir(&dir).unwrap();
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    CURRENT
        .lock()
        .unwrap()
        .push((id, target.to_string(), data.to_vec(), Instant::now()));
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        targets::run(target, data, &dir)
    }));
    CURRENT.lock().unwrap().retain(|r| r.0 != id);
    if writes {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Err(p) = res {
        let h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
        });
        let saved = crash_dir().join(format!("{target}-{h:016x}"));
        std::fs::write(&saved, data).unwrap();
        eprintln!("fuzz: {target} panicked; the input is {}", saved.display());
        std::panic::resume_unwind(p);
    }
}

/// Abort the whole run (and save the input) when one input runs too long:
/// a hang cannot be unwound.
fn watchdog() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let limit = env_secs("FUZZ_HANG_SECONDS", 10.0);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let cur = CURRENT.lock().unwrap();
            if let Some((_, target, data, _)) = cur.iter().find(|r| r.3.elapsed() > limit) {
                let saved = crash_dir().join(format!("{target}-hang"));
                let _ = std::fs::write(&saved, data);
                eprintln!(
                    "fuzz: {target} ran one input for more than {limit:?}; it is {}",
                    saved.display()
                );
                std::process::abort();
            }
        });
    });
}

fn fuzz(target: &str) {
    watchdog();
    let tokens: Vec<&str> = targets::TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .map(|(_, lists)| lists.concat())
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let corpus = corpus(target);
    for seed in &corpus {
        one(target, seed, scratch.path());
    }
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    let budget = env_secs("FUZZ_SECONDS", 2.0);
    let t0 = Instant::now();
    let mut runs = 0u64;
    // Mutations build on each other a few steps before going back to a seed.
    let mut cur = corpus[0].clone();
    while t0.elapsed() < budget {
        if runs % 8 == 0 {
            cur = corpus[rng.below(corpus.len())].clone();
        }
        cur = mutate(&mut rng, &cur, &corpus, &tokens);
        one(target, &cur, scratch.path());
        runs += 1;
    }
    eprintln!(
        "fuzz: {target}: {runs} inputs in {:?} (FUZZ_SEED={seed})",
        t0.elapsed()
    );
}

#[test]
fn dockerfile() {
    fuzz("dockerfile");
}

#[test]
fn dockerignore() {
    fuzz("dockerignore");
}

#[test]
fn unpack() {
    fuzz("unpack");
}

#[test]
fn reference() {
    fuzz("reference");
}

#[test]
fn manifest() {
    fuzz("manifest");
}

#[test]
fn config() {
    fuzz("config");
}

#[test]
fn hutch_toml() {
    fuzz("hutch_toml");
}

#[test]
fn devcontainer() {
    fuzz("devcontainer");
}

#[test]
fn rpm_header() {
    fuzz("rpm_header");
}

#[test]
fn rpm_bdb() {
    fuzz("rpm_bdb");
}

#[test]
fn rpm_ndb() {
    fuzz("rpm_ndb");
}

#[test]
fn every_target_has_a_test_and_a_corpus() {
    let src = include_str!("main.rs");
    for (t, _) in targets::TARGETS {
        assert!(
            src.contains(&format!("fn {t}() {{\n    fuzz(\"{t}\");")),
            "{t}"
        );
        assert!(corpus(t).iter().any(|c| !c.is_empty()), "no corpus for {t}");
    }
}
