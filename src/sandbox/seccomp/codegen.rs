//! Classic BPF for a seccomp program: check the architecture and jump to
//! its part, load the syscall number, find its verdict by binary search
//! over number ranges (about nine comparisons for any syscall), then
//! compare arguments where a verdict has conditions. Leaves that are only
//! an action share one `ret` per block (see `Code`), and a syscall whose
//! rules each compare the same argument once gets a search over that
//! argument's values instead of a chain of rules. Arguments are 64 bits;
//! BPF loads 32 at a time, so each comparison looks at the high word, then
//! the low one. A 32-bit architecture's part compares the low word only, as
//! libseccomp does: its syscalls take 32-bit arguments, and the high word
//! is whatever the register held, which the kernel ignores too.
//!
//! Only code generation: the values come from `compile`, installing is
//! `sys::seccomp`'s job.

use super::{Action, Cmp, SeccompError, Verdict};
use libc::sock_filter;
use std::collections::HashMap;

/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

/// Offsets in struct seccomp_data.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARGS: u32 = 16;

/// AUDIT_ARCH_* of the running architecture (linux/audit.h).
pub fn audit_arch() -> Option<u32> {
    match std::env::consts::ARCH {
        "x86_64" => Some(0xC000_003E),
        "aarch64" => Some(0xC000_00B7),
        "riscv64" => Some(0xC000_00F3),
        _ => None,
    }
}

/// AUDIT_ARCH_I386, and the i386 syscall table, where the kernel also runs
/// 32-bit x86 programs.
#[cfg(target_arch = "x86_64")]
pub fn compat_arch() -> Option<(u32, HashMap<&'static str, u32>)> {
    let table = syscalls::x86::Sysno::iter()
        .map(|s| (s.name(), s.id() as u32))
        .collect();
    Some((0x4000_0003, table))
}

#[cfg(not(target_arch = "x86_64"))]
pub fn compat_arch() -> Option<(u32, HashMap<&'static str, u32>)> {
    None
}

/// One architecture's part of a program.
pub struct Section {
    /// Its AUDIT_ARCH_* value.
    pub arch: u32,
    /// The syscalls with rules; every other number gets the default.
    pub per: HashMap<u32, Verdict>,
    /// Numbers from `.0` up get `.1`.
    pub above: Option<(u32, Action)>,
    /// 64-bit arguments (else only their low 32 bits are compared).
    pub wide: bool,
    /// One past its highest syscall number.
    pub numbers: u32,
}

fn insn(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

fn load(offset: u32) -> sock_filter {
    insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset, 0, 0)
}

fn ret(a: Action) -> sock_filter {
    insn(libc::BPF_RET | libc::BPF_K, a.ret(), 0, 0)
}

/// The whole program: for each architecture, a check that jumps past its
/// part unless the caller is of it, then that part's search; any other
/// architecture is killed.
pub fn program(sections: &[Section], default: Action) -> Result<Vec<sock_filter>, SeccompError> {
    let mut bodies = Vec::new();
    for s in sections {
        let mut body = vec![load(NR)];
        let segs = segments(s, default);
        let starts: Vec<u32> = segs.iter().map(|(start, _)| *start).collect();
        // When a filter is installed the kernel runs it for every syscall
        // number of each architecture, to fill its cache of always-allowed
        // calls: a range is weighed by how many numbers it holds (plus
        // one, so that ranges past the table still count), and wide
        // ranges such as the unused numbers sit near the root.
        let weights: Vec<u64> = starts
            .iter()
            .zip(starts.iter().skip(1).chain([&u32::MAX]))
            .map(|(a, b)| u64::from(b.min(&s.numbers).saturating_sub(*a)) + 1)
            .collect();
        let leaves = segs
            .iter()
            .map(|(_, v)| leaf(v, s.wide))
            .collect::<Result<Vec<_>, _>>()?;
        body.extend(search(&starts, &weights, leaves)?.finish()?);
        bodies.push(body);
    }
    // Each part starts with its check, so that the native architecture
    // reaches its search after two instructions (the kernel evaluates
    // this path for every syscall number); the last check is followed
    // by the kill for every other architecture.
    let mut out = vec![load(ARCH)];
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let last = bodies.len() - 1;
    for (i, (s, body)) in sections.iter().zip(bodies).enumerate() {
        out.push(insn(jeq, s.arch, 1, 0));
        out.push(match i == last {
            true => ret(Action::KillProcess),
            false => insn(libc::BPF_JMP | libc::BPF_JA, body.len() as u32, 0, 0),
        });
        out.extend(body);
    }
    if out.len() > MAX_INSNS {
        return Err(SeccompError::TooLong {
            needs: out.len(),
            max: MAX_INSNS,
        });
    }
    Ok(out)
}

/// Ranges [start, next start) with one verdict each, covering every number.
fn segments(s: &Section, default: Action) -> Vec<(u32, Verdict)> {
    let plain = |a: Action| Verdict {
        rules: Vec::new(),
        fallback: a,
    };
    let limit = s.above.map_or(u32::MAX, |(start, _)| start);
    let mut nrs: Vec<u32> = s.per.keys().copied().filter(|n| *n < limit).collect();
    nrs.sort_unstable();
    let mut segs: Vec<(u32, Verdict)> = Vec::new();
    let mut push = |start: u32, v: Verdict| {
        let v = simplify(v);
        if segs.last().map_or(true, |(_, last)| *last != v) {
            segs.push((start, v));
        }
    };
    let mut next = 0u32;
    for nr in nrs {
        if nr > next {
            push(next, plain(default));
        }
        push(nr, s.per[&nr].clone());
        next = nr + 1;
    }
    push(next, plain(default));
    if let Some((start, a)) = s.above {
        push(start, plain(a));
    }
    segs
}

/// A verdict whose first rule has no conditions is that rule's action.
fn simplify(v: Verdict) -> Verdict {
    match v.rules.first() {
        Some((c, a)) if c.is_empty() => Verdict {
            rules: Vec::new(),
            fallback: *a,
        },
        _ => v,
    }
}

/// Where a jump goes before the code around it is laid out.
#[derive(Clone, Copy)]
enum Dest {
    /// This many instructions ahead (0: the next one).
    Skip(u8),
    /// A `ret` of this action in the pool after the enclosing block.
    Ret(Action),
}

/// An instruction whose jumps may still name a pooled `ret`.
#[derive(Clone, Copy)]
struct Sym {
    code: u32,
    k: u32,
    jt: Dest,
    jf: Dest,
}

fn sym(i: sock_filter) -> Sym {
    Sym {
        code: i.code.into(),
        k: i.k,
        jt: Dest::Skip(i.jt),
        jf: Dest::Skip(i.jf),
    }
}

/// Code for part of a search. Most leaves of a search end in one of two
/// actions (allow, or the profile's errno): a leaf that is only an action
/// costs no instruction of its own, the jumps that reach it go to a `ret`
/// shared by the whole block instead. The kernel prepares, translates and
/// JITs every instruction at each container start (about 0.18 us each
/// here), and evaluates the search for every syscall number of each
/// architecture to fill its allow cache; with one `ret` per leaf the
/// default profile took 640 instructions.
enum Code {
    /// Nothing to run: the action, taken by whoever jumps here.
    Act(Action),
    /// Instructions in which no path runs off the end (each ends in a
    /// `ret` or a jump to a pooled one).
    Block(Vec<Sym>),
}

impl Code {
    fn into_block(self) -> Vec<Sym> {
        match self {
            Code::Act(a) => vec![sym(ret(a))],
            Code::Block(b) => b,
        }
    }

    /// The instructions with the pooled `ret`s appended and every jump to
    /// them resolved.
    fn finish(self) -> Result<Vec<sock_filter>, SeccompError> {
        let mut b = self.into_block();
        let pool = pooled(&b);
        let end = b.len();
        b.extend(pool.iter().map(|a| sym(ret(*a))));
        let mut out = Vec::with_capacity(b.len());
        for (i, s) in b.iter().enumerate() {
            let to = |d: Dest| match d {
                Dest::Skip(n) => Ok(n),
                Dest::Ret(a) => {
                    let at = end + pool.iter().position(|p| *p == a).unwrap_or(0);
                    u8::try_from(at - i - 1).map_err(|_| SeccompError::TooManyComparisons)
                }
            };
            out.push(insn(s.code, s.k, to(s.jt)?, to(s.jf)?));
        }
        Ok(out)
    }
}

/// The distinct actions `b` jumps to a pooled `ret` of, in first use order.
fn pooled(b: &[Sym]) -> Vec<Action> {
    let mut pool = Vec::new();
    for d in b.iter().flat_map(|s| [s.jt, s.jf]) {
        if let Dest::Ret(a) = d {
            if !pool.contains(&a) {
                pool.push(a);
            }
        }
    }
    pool
}

/// Whether `b`, with its pool after it, keeps every jump within the 255
/// instructions a conditional jump reaches.
fn fits(b: &[Sym]) -> bool {
    b.len() + pooled(b).len() <= 256
}

/// What one instruction of the program costs the kernel at install, in
/// steps of its allow-cache evaluation (one instruction run for one
/// syscall number). Each instruction is translated to eBPF and JITed in
/// several passes: about 0.14 us per eBPF instruction on an idle machine
/// here against 3.3 ns a step, 0.38 us against 5.3 ns under load
/// (bench/README.md): 40-70 steps.
const INSN_STEPS: u64 = 50;

/// Binary search on the accumulator over syscall numbers: values from
/// `starts[i]` up to the next start take `leaves[i]`; `starts[0]` is 0.
/// The kernel runs this search for every number when it fills its allow
/// cache at install, so its splits minimise that work (see [`splits`]).
fn search(starts: &[u32], weights: &[u64], leaves: Vec<Code>) -> Result<Code, SeccompError> {
    let acts: Vec<bool> = leaves.iter().map(|l| matches!(l, Code::Act(_))).collect();
    let at = splits(weights, &acts);
    build(starts, &|i, j| at[i][j], 0, leaves)
}

/// [`search`] over one argument's values, split in halves by count. The
/// cache fill stops at the first argument load, so its steps do not weigh
/// these splits; every call of the syscall (socket, personality) runs the
/// search, and halves bound its depth for any profile. For the default
/// one: at most 16 instructions for socket(), where splits weighed for
/// install ran 13 for the families below 12 but 27 for others, and saved
/// 20 eBPF instructions at install.
fn balanced(starts: &[u32], leaves: Vec<Code>) -> Result<Code, SeccompError> {
    build(starts, &|i, j| i + (j + 1 - i) / 2, 0, leaves)
}

/// For every run of leaves `i..=j`, where its search splits it
/// (`[i][j]`): the split that minimises the steps of the kernel's
/// evaluation (a node is run once for each of the `weights` below it)
/// plus [`INSN_STEPS`] for each eBPF instruction. A node is one
/// instruction, or two when both its sides are leaves that are only an
/// action (a jump with no side falling through is translated to a jump
/// and a `ja`). A search balanced by weight has the most of those: for
/// the default profile this one translates to 8% fewer eBPF
/// instructions (338 against 368) for 1% more steps.
///
/// Only the splits from `[i][j-1]` to `[i+1][j]` are weighed (Knuth's
/// bound for optimal search trees), so the work grows with the square of
/// the leaves, not the cube: this runs whenever the cached program is
/// missing, and a profile with hundreds of syscall ranges must not stall
/// a start. The two-instruction nodes make the bound a heuristic, not a
/// proof.
pub(super) fn splits(weights: &[u64], acts: &[bool]) -> Vec<Vec<usize>> {
    table(weights, acts, knuth).0
}

/// The splits [`splits`] weighs for the run `i..=j`, from those of the
/// two runs one leaf shorter.
fn knuth(at: &[Vec<usize>], i: usize, j: usize) -> (usize, usize) {
    match j - i {
        1 => (j, j),
        _ => (at[i][j - 1], at[i + 1][j].max(at[i][j - 1])),
    }
}

/// The best split of every run among those `range(at, i, j)` bounds,
/// with each run's steps (see [`splits`]).
fn table(
    weights: &[u64],
    acts: &[bool],
    range: impl Fn(&[Vec<usize>], usize, usize) -> (usize, usize),
) -> (Vec<Vec<usize>>, Vec<Vec<u64>>) {
    let n = weights.len();
    let mut sum = vec![0u64; n + 1];
    for (i, w) in weights.iter().enumerate() {
        sum[i + 1] = sum[i] + w;
    }
    let mut cost = vec![vec![0u64; n]; n];
    let mut at = vec![vec![0usize; n]; n];
    for len in 1..n {
        for i in 0..n - len {
            let j = i + len;
            let (from, to) = range(&at, i, j);
            let mut best = (u64::MAX, from);
            for m in from..=to {
                let both = m - 1 == i && acts[i] && m == j && acts[j];
                let c = cost[i][m - 1] + cost[m][j] + INSN_STEPS * (1 + u64::from(both));
                if c < best.0 {
                    best = (c, m);
                }
            }
            cost[i][j] = best.0 + sum[j + 1] - sum[i];
            at[i][j] = best.1;
        }
    }
    (at, cost)
}

/// The steps of the search [`splits`] finds over all the leaves, and how
/// many splits it weighed.
#[cfg(test)]
pub(super) fn splits_weighed(weights: &[u64], acts: &[bool]) -> (u64, u64) {
    let weighed = std::cell::Cell::new(0u64);
    let (_, cost) = table(weights, acts, |at, i, j| {
        let (from, to) = knuth(at, i, j);
        weighed.set(weighed.get() + (to + 1 - from) as u64);
        (from, to)
    });
    let last = weights.len() - 1;
    (cost[0][last], weighed.get())
}

/// The fewest steps of any search over all the leaves, every split
/// weighed.
#[cfg(test)]
pub(super) fn exhaustive_steps(weights: &[u64], acts: &[bool]) -> u64 {
    let (_, cost) = table(weights, acts, |_, i, j| (i + 1, j));
    cost[0][weights.len() - 1]
}

/// The search over `leaves`, which start at index `first` of the whole
/// run and at `starts[0]`; `split(i, j)` says where the leaves `i..=j`
/// are split (the first index of the right side).
fn build(
    starts: &[u32],
    split: &dyn Fn(usize, usize) -> usize,
    first: usize,
    mut leaves: Vec<Code>,
) -> Result<Code, SeccompError> {
    if leaves.len() == 1 {
        return Ok(leaves.pop().unwrap_or(Code::Act(Action::KillProcess)));
    }
    let mid = split(first, first + leaves.len() - 1) - first;
    let right_leaves = leaves.split_off(mid);
    let left = build(&starts[..mid], split, first, leaves)?;
    let right = build(&starts[mid..], split, first + mid, right_leaves)?;
    branch(starts[mid], left, right)
}

/// `A >= k` goes to `right`, else to `left`.
fn branch(k: u32, left: Code, right: Code) -> Result<Code, SeccompError> {
    let jge = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
    let node = |jt, jf| Sym {
        code: jge,
        k,
        jt,
        jf,
    };
    let joined = match (&left, &right) {
        (Code::Act(l), Code::Act(r)) => {
            return Ok(Code::Block(vec![node(Dest::Ret(*r), Dest::Ret(*l))]))
        }
        (Code::Act(l), Code::Block(r)) => [&[node(Dest::Skip(0), Dest::Ret(*l))], &r[..]].concat(),
        (Code::Block(l), Code::Act(r)) => [&[node(Dest::Ret(*r), Dest::Skip(0))], &l[..]].concat(),
        (Code::Block(l), Code::Block(r)) => match u8::try_from(l.len()) {
            Ok(n) => [&[node(Dest::Skip(n), Dest::Skip(0))], &l[..], &r[..]].concat(),
            Err(_) => Vec::new(),
        },
    };
    if !joined.is_empty() && fits(&joined) {
        return Ok(Code::Block(joined));
    }
    // Too far for the shared `ret`s: each half gets its own pool.
    let l: Vec<Sym> = left.finish()?.into_iter().map(sym).collect();
    let r: Vec<Sym> = right.finish()?.into_iter().map(sym).collect();
    let mut out = match u8::try_from(l.len()) {
        Ok(n) => vec![node(Dest::Skip(n), Dest::Skip(0))],
        // jt 0 falls to the long jump over the left half; jf 1 skips it.
        Err(_) => vec![
            node(Dest::Skip(0), Dest::Skip(1)),
            sym(insn(libc::BPF_JMP | libc::BPF_JA, l.len() as u32, 0, 0)),
        ],
    };
    out.extend(l);
    out.extend(r);
    Ok(Code::Block(out))
}

/// What one syscall number runs: nothing but its action when it has no
/// conditions, a search over one argument's values when every rule
/// compares that argument once (socket's families, personality's values),
/// else each rule in turn.
fn leaf(v: &Verdict, wide: bool) -> Result<Code, SeccompError> {
    if v.rules.is_empty() {
        return Ok(Code::Act(v.fallback));
    }
    if let Some(c) = ranges(v, wide) {
        return Ok(c);
    }
    Ok(Code::Block(rules(v, wide)?.into_iter().map(sym).collect()))
}

/// [`leaf`] as a search over the values of the one argument every rule of
/// `v` compares, when there is one and the search needs only its low word
/// (every value from 2^32 up gets the same action, checked on the high
/// word first).
fn ranges(v: &Verdict, wide: bool) -> Option<Code> {
    let index = v.rules[0].0.first()?.0;
    let mut cmps = Vec::new();
    for (conds, action) in &v.rules {
        match conds[..] {
            [(i, c)] if i == index && !matches!(c, Cmp::MaskedEq { .. }) => cmps.push((c, *action)),
            _ => return None,
        }
    }
    // Where the rules' answer may change: each value compared and the one
    // after it.
    let top = 1u128 << 64;
    let mut bounds: Vec<u128> = vec![0];
    for (c, _) in &cmps {
        let (Cmp::Eq(x) | Cmp::Ne(x) | Cmp::Lt(x) | Cmp::Le(x) | Cmp::Ge(x) | Cmp::Gt(x)) = *c
        else {
            return None;
        };
        bounds.extend([u128::from(x), u128::from(x) + 1]);
    }
    bounds.retain(|b| *b < top);
    bounds.sort_unstable();
    bounds.dedup();
    let decide = |x: u64| {
        cmps.iter()
            .find(|(c, _)| holds(*c, x))
            .map_or(v.fallback, |(_, a)| *a)
    };
    let low = 1u128 << 32;
    // From 2^32 up one action, or this form does not apply.
    let high = decide(u64::MAX);
    if wide && bounds.iter().any(|b| *b > low) {
        return None;
    }
    let mut starts = Vec::new();
    let mut leaves = Vec::new();
    for b in bounds.into_iter().filter(|b| *b < low) {
        let a = decide(b as u64);
        if leaves
            .last()
            .is_some_and(|l| matches!(l, Code::Act(p) if *p == a))
        {
            continue;
        }
        starts.push(b as u32);
        leaves.push(Code::Act(a));
    }
    let (hi, lo) = words(index);
    let mut out = Vec::new();
    if wide {
        out.push(sym(load(hi)));
        out.push(Sym {
            code: libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            k: 0,
            jt: Dest::Skip(0),
            jf: Dest::Ret(high),
        });
    }
    match balanced(&starts, leaves).ok()? {
        Code::Act(a) if wide => {
            out.last_mut()?.jt = Dest::Ret(a);
        }
        Code::Act(a) => return Some(Code::Act(a)),
        Code::Block(b) => {
            out.push(sym(load(lo)));
            out.extend(b);
        }
    }
    // The jump on the high word must reach the pool after the search.
    fits(&out).then_some(Code::Block(out))
}

/// Whether the comparison holds of `x` (a 32-bit argument is compared as
/// its value, zero-extended: see `narrow`).
fn holds(c: Cmp, x: u64) -> bool {
    match c {
        Cmp::Ne(v) => x != v,
        Cmp::Lt(v) => x < v,
        Cmp::Le(v) => x <= v,
        Cmp::Eq(v) => x == v,
        Cmp::Ge(v) => x >= v,
        Cmp::Gt(v) => x > v,
        Cmp::MaskedEq { mask, value } => x & mask == value & mask,
    }
}

/// Where a conditional jump goes inside one rule's block.
#[derive(Clone, Copy)]
enum To {
    /// This many instructions ahead (0: the next one).
    Skip(u8),
    /// The first instruction after the block: the rule does not apply.
    Fail,
}

struct Op {
    code: u32,
    k: u32,
    jt: To,
    jf: To,
}

fn op(code: u32, k: u32) -> Op {
    Op {
        code,
        k,
        jt: To::Skip(0),
        jf: To::Skip(0),
    }
}

fn jmp(kind: u32, k: u32, jt: To, jf: To) -> Op {
    Op {
        code: libc::BPF_JMP | kind | libc::BPF_K,
        k,
        jt,
        jf,
    }
}

/// The rules in order, each a block ending in its action; then the fallback.
fn rules(v: &Verdict, wide: bool) -> Result<Vec<sock_filter>, SeccompError> {
    let mut out = Vec::new();
    for (conds, action) in &v.rules {
        let mut block: Vec<Op> = Vec::new();
        for (i, c) in conds {
            if wide {
                block.extend(compare(*i, *c));
            } else {
                match narrow(*c) {
                    Narrow::To(c) => block.extend(compare_low(*i, c)),
                    Narrow::Always => {}
                    Narrow::Never => block.push(jmp(libc::BPF_JEQ, 0, To::Fail, To::Fail)),
                }
            }
        }
        block.push(op(libc::BPF_RET | libc::BPF_K, action.ret()));
        let len = block.len();
        for (j, o) in block.into_iter().enumerate() {
            let resolve = |t: To| -> Result<u8, SeccompError> {
                match t {
                    To::Skip(n) => Ok(n),
                    To::Fail => {
                        u8::try_from(len - j - 1).map_err(|_| SeccompError::TooManyComparisons)
                    }
                }
            };
            out.push(insn(o.code, o.k, resolve(o.jt)?, resolve(o.jf)?));
        }
    }
    out.push(ret(v.fallback));
    Ok(out)
}

/// Offsets of the high and low 32-bit words of argument `i`.
fn words(i: u8) -> (u32, u32) {
    let base = ARGS + 8 * i as u32;
    if cfg!(target_endian = "little") {
        (base + 4, base)
    } else {
        (base, base + 4)
    }
}

/// One 64-bit comparison; falls through when it holds, jumps to Fail when not.
fn compare(i: u8, c: Cmp) -> Vec<Op> {
    let (hi, lo) = words(i);
    let ld = |off| op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, off);
    let h = |v: u64| (v >> 32) as u32;
    let l = |v: u64| v as u32;
    let (jeq, jgt, jge) = (libc::BPF_JEQ, libc::BPF_JGT, libc::BPF_JGE);
    use To::{Fail, Skip};
    match c {
        Cmp::Eq(v) => vec![
            ld(hi),
            jmp(jeq, h(v), Skip(0), Fail),
            ld(lo),
            jmp(jeq, l(v), Skip(0), Fail),
        ],
        Cmp::Ne(v) => vec![
            ld(hi),
            jmp(jeq, h(v), Skip(0), Skip(2)),
            ld(lo),
            jmp(jeq, l(v), Fail, Skip(0)),
        ],
        Cmp::MaskedEq { mask, value } => {
            let and = |m| op(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, m);
            vec![
                ld(hi),
                and(h(mask)),
                jmp(jeq, h(value & mask), Skip(0), Fail),
                ld(lo),
                and(l(mask)),
                jmp(jeq, l(value & mask), Skip(0), Fail),
            ]
        }
        Cmp::Gt(v) | Cmp::Ge(v) => vec![
            ld(hi),
            jmp(jgt, h(v), Skip(3), Skip(0)),
            jmp(jeq, h(v), Skip(0), Fail),
            ld(lo),
            jmp(
                if matches!(c, Cmp::Gt(_)) { jgt } else { jge },
                l(v),
                Skip(0),
                Fail,
            ),
        ],
        // Lt is "not Ge", Le is "not Gt".
        Cmp::Lt(v) | Cmp::Le(v) => vec![
            ld(hi),
            jmp(jgt, h(v), Fail, Skip(0)),
            jmp(jeq, h(v), Skip(0), Skip(2)),
            ld(lo),
            jmp(
                if matches!(c, Cmp::Lt(_)) { jge } else { jgt },
                l(v),
                Fail,
                Skip(0),
            ),
        ],
    }
}

/// A comparison as seen by a 32-bit argument.
enum Narrow {
    To(Cmp),
    /// True of every 32-bit value.
    Always,
    /// True of none.
    Never,
}

fn narrow(c: Cmp) -> Narrow {
    let max = u64::from(u32::MAX);
    match c {
        Cmp::Eq(v) if v > max => Narrow::Never,
        Cmp::Ne(v) if v > max => Narrow::Always,
        Cmp::MaskedEq { mask, value } if value & mask > max => Narrow::Never,
        Cmp::MaskedEq { mask, value } => Narrow::To(Cmp::MaskedEq {
            mask: mask & max,
            value: value & mask,
        }),
        Cmp::Gt(v) if v >= max => Narrow::Never,
        Cmp::Ge(v) if v > max => Narrow::Never,
        Cmp::Lt(v) if v > max => Narrow::Always,
        Cmp::Le(v) if v >= max => Narrow::Always,
        c => Narrow::To(c),
    }
}

/// One comparison of the low word of argument `i` with a 32-bit value;
/// falls through when it holds, jumps to Fail when not.
fn compare_low(i: u8, c: Cmp) -> Vec<Op> {
    let (_, lo) = words(i);
    let l = |v: u64| v as u32;
    let (jeq, jgt, jge) = (libc::BPF_JEQ, libc::BPF_JGT, libc::BPF_JGE);
    use To::{Fail, Skip};
    let test = match c {
        Cmp::Eq(v) => vec![jmp(jeq, l(v), Skip(0), Fail)],
        Cmp::Ne(v) => vec![jmp(jeq, l(v), Fail, Skip(0))],
        Cmp::MaskedEq { mask, value } => vec![
            op(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, l(mask)),
            jmp(jeq, l(value), Skip(0), Fail),
        ],
        Cmp::Gt(v) => vec![jmp(jgt, l(v), Skip(0), Fail)],
        Cmp::Ge(v) => vec![jmp(jge, l(v), Skip(0), Fail)],
        Cmp::Lt(v) => vec![jmp(jge, l(v), Fail, Skip(0))],
        Cmp::Le(v) => vec![jmp(jgt, l(v), Fail, Skip(0))],
    };
    let mut out = vec![op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, lo)];
    out.extend(test);
    out
}
