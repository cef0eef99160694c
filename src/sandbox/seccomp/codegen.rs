//! Classic BPF for a seccomp program: check the architecture and jump to
//! its part, load the syscall number, find its verdict by binary search
//! over number ranges (about nine comparisons for any syscall), then
//! compare arguments where a verdict has conditions. Arguments are 64 bits;
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

/// The whole program: a jump to the part of the calling architecture (any
/// other is killed), then each part's search.
pub fn program(sections: &[Section], default: Action) -> Result<Vec<sock_filter>, SeccompError> {
    let mut bodies = Vec::new();
    for s in sections {
        let mut body = vec![load(NR)];
        body.extend(tree(&segments(s, default), s.wide)?);
        bodies.push(body);
    }
    let mut out = vec![load(ARCH)];
    // Each check is two instructions and the kill one: the first body
    // starts this far after the last jump.
    let mut ahead = 2 * (sections.len() - 1) + 1;
    for (s, body) in sections.iter().zip(&bodies) {
        out.push(insn(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            s.arch,
            0,
            1,
        ));
        out.push(insn(libc::BPF_JMP | libc::BPF_JA, ahead as u32, 0, 0));
        ahead += body.len();
        ahead -= 2;
    }
    out.push(ret(Action::KillProcess));
    for body in bodies {
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

/// Binary search: `nr >= start of the middle range` goes right. The
/// accumulator holds the syscall number throughout; leaves may reload it.
fn tree(segs: &[(u32, Verdict)], wide: bool) -> Result<Vec<sock_filter>, SeccompError> {
    if segs.len() == 1 {
        return leaf(&segs[0].1, wide);
    }
    let mid = segs.len() / 2;
    let left = tree(&segs[..mid], wide)?;
    let right = tree(&segs[mid..], wide)?;
    let jge = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
    let mut out = match u8::try_from(left.len()) {
        // A left half that a conditional jump can skip: one instruction.
        // The kernel prepares and JITs every instruction at each
        // container start (0.15 ms for 825 of them), so this matters.
        Ok(n) => vec![insn(jge, segs[mid].0, n, 0)],
        // Else jt 0 falls to the long jump over the left half; jf 1
        // skips it.
        Err(_) => vec![
            insn(jge, segs[mid].0, 0, 1),
            insn(libc::BPF_JMP | libc::BPF_JA, left.len() as u32, 0, 0),
        ],
    };
    out.extend(left);
    out.extend(right);
    Ok(out)
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
fn leaf(v: &Verdict, wide: bool) -> Result<Vec<sock_filter>, SeccompError> {
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
