use super::*;
use crate::sandbox::caps;

fn host(c: CapSet) -> Host {
    Host {
        arch: "amd64",
        kernel: (6, 1),
        caps: c,
    }
}

/// A classic-BPF interpreter for the instructions codegen emits, run over
/// a seccomp_data of (nr, arch, args).
fn run(prog: &[libc::sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    trace(prog, nr, arch, args).0
}

/// [`run`], and how many instructions it ran.
fn trace(prog: &[libc::sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> (u32, usize) {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let (mut pc, mut acc, mut steps) = (0usize, 0u32, 0);
    loop {
        let f = prog[pc];
        let code = f.code as u32;
        pc += 1;
        steps += 1;
        match code {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                let k = f.k as usize;
                acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
            }
            c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => acc &= f.k,
            c if c == libc::BPF_JMP | libc::BPF_JA => pc += f.k as usize,
            c if c & 0x07 == libc::BPF_JMP => {
                let yes = match c & 0xf0 {
                    x if x == libc::BPF_JEQ => acc == f.k,
                    x if x == libc::BPF_JGT => acc > f.k,
                    x if x == libc::BPF_JGE => acc >= f.k,
                    other => panic!("jump {other:#x}"),
                };
                pc += if yes { f.jt } else { f.jf } as usize;
            }
            c if c == libc::BPF_RET | libc::BPF_K => return (f.k, steps),
            other => panic!("instruction {other:#x}"),
        }
    }
}

fn nr(name: &str) -> u32 {
    syscalls::Sysno::iter()
        .find(|s| s.name() == name)
        .unwrap()
        .id() as u32
}

const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

#[test]
fn the_default_profile_decides_like_dockers() {
    let arch = codegen::audit_arch().unwrap();
    let f = compile(&default::profile(), &[], &host(caps::DEFAULT)).unwrap();
    assert_eq!(f.programs.len(), 1);
    let p = &f.programs[0];
    // The kernel prepares and JITs each one at every start (825 when every
    // search node took a long jump, 640 with a `ret` per leaf and socket's
    // families compared one rule at a time). docs/ARCHITECTURE.md quotes
    // x86_64's count, for its x86_64 and i386 parts together.
    assert!(p.len() < 300, "{} instructions", p.len());
    if cfg!(target_arch = "x86_64") {
        assert_eq!(p.len(), 265, "the count docs/ARCHITECTURE.md gives");
    }
    let call = |name: &str, args: [u64; 6]| run(p, nr(name), arch, args);
    for ok in [
        "read",
        "openat",
        "execve",
        "setresuid",
        "chown",
        "ptrace",
        "fork",
    ] {
        assert_eq!(call(ok, [0; 6]), ALLOW, "{ok}");
    }
    for denied in [
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "kexec_load",
        "init_module",
        "finit_module",
        "delete_module",
        "clock_settime",
        "settimeofday",
        "unshare",
        "setns",
        "mount",
        "userfaultfd",
        "io_uring_setup",
        "reboot",
    ] {
        assert_eq!(call(denied, [0; 6]), EPERM, "{denied}");
    }
    let newuser = libc::CLONE_NEWUSER as u64;
    assert_eq!(call("clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        call("clone", [newuser | libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(
        call("clone", [1 << 32, 0, 0, 0, 0, 0]),
        ALLOW,
        "high word ignored by the mask"
    );
    assert_eq!(
        call("clone3", [0; 6]),
        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
    );
    assert_eq!(call("socket", [libc::AF_INET as u64, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        call("socket", [libc::AF_NETLINK as u64, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        call("socket", [libc::AF_VSOCK as u64, 0, 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(
        call("socket", [(1 << 32) | 2, 0, 0, 0, 0, 0]),
        EPERM,
        "64-bit compare"
    );
    assert_eq!(call("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(call("personality", [0x0040000, 0, 0, 0, 0, 0]), EPERM);
    // Unknown numbers, x32 numbers and other architectures.
    assert_eq!(run(p, 5000, arch, [0; 6]), EPERM);
    assert_eq!(run(p, 0x4000_0000 | nr("read"), arch, [0; 6]), EPERM);
    // AUDIT_ARCH_ARM: a program of no architecture this kernel runs.
    assert_eq!(
        run(p, nr("read"), 0x4000_0028, [0; 6]),
        libc::SECCOMP_RET_KILL_PROCESS
    );

    // CAP_SYS_ADMIN brings back namespaces and mount, as in Docker.
    let admin = compile(&default::profile(), &[], &host(caps::DEFAULT.with(21))).unwrap();
    let a = |name: &str, args| run(&admin.programs[0], nr(name), arch, args);
    assert_eq!(a("unshare", [newuser, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(a("clone", [newuser, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(a("clone3", [0; 6]), ALLOW);
    assert_eq!(a("keyctl", [0; 6]), EPERM);
    // hutch's own read-only paths take open_tree_attr where it exists.
    for name in ["open_tree", "open_tree_attr", "mount_setattr", "move_mount"] {
        assert_eq!(a(name, [0; 6]), ALLOW, "{name}");
        assert_eq!(call(name, [0; 6]), EPERM, "{name}");
    }

    // Fake root: ownership and id changes succeed, device nodes only.
    let fake = compile(
        &default::profile(),
        &fake_root_rules(),
        &host(caps::DEFAULT),
    )
    .unwrap();
    let fk = |name: &str, args| run(&fake.programs[0], nr(name), arch, args);
    let zero = libc::SECCOMP_RET_ERRNO;
    for name in ["chown", "fchownat", "setgroups", "setresuid", "setuid"] {
        assert_eq!(fk(name, [0; 6]), zero, "{name}");
    }
    let chr = (libc::S_IFCHR | 0o600) as u64;
    let fifo = (libc::S_IFIFO | 0o600) as u64;
    assert_eq!(fk("mknodat", [0, 0, chr, 0, 0, 0]), zero);
    assert_eq!(fk("mknodat", [0, 0, fifo, 0, 0, 0]), ALLOW);
    assert_eq!(fk("mknod", [0, chr, 0, 0, 0, 0]), zero);
    assert_eq!(fk("keyctl", [0; 6]), EPERM);
}

#[test]
fn comparisons_hold_on_64_bit_values() {
    let arch = codegen::audit_arch().unwrap();
    let big = (7u64 << 32) | 5;
    for (cmp, below, at, above) in [
        (Cmp::Eq(big), false, true, false),
        (Cmp::Ne(big), true, false, true),
        (Cmp::Lt(big), true, false, false),
        (Cmp::Le(big), true, true, false),
        (Cmp::Gt(big), false, false, true),
        (Cmp::Ge(big), false, true, true),
    ] {
        let p = Profile {
            default_action: Action::Errno(1),
            rules: vec![Rule {
                names: vec!["read".into()],
                action: Action::Allow,
                args: vec![(2, cmp)],
                includes: Cond::default(),
                excludes: Cond::default(),
            }],
            flags: InstallFlags::default(),
        };
        let f = compile(&p, &[], &host(caps::DEFAULT)).unwrap();
        let allowed = |v: u64| run(&f.programs[0], nr("read"), arch, [0, 0, v, 0, 0, 0]) == ALLOW;
        // Values that differ in the high word, and only in the low word.
        for (lo, hi) in [(big - 1, big + 1), (6u64 << 32 | 9, 8u64 << 32)] {
            assert_eq!(allowed(lo), below, "{cmp:?} below {lo:#x}");
            assert_eq!(allowed(hi), above, "{cmp:?} above {hi:#x}");
        }
        assert_eq!(allowed(big), at, "{cmp:?} at");
    }
}

#[test]
fn conditions_follow_docker() {
    let h = host(caps::DEFAULT);
    let c = Cond {
        caps: vec!["CAP_SYS_ADMIN".into()],
        ..Cond::default()
    };
    assert!(!c.holds_all(&h) && !c.holds_any(&h));
    let a = Cond {
        arches: vec!["amd64".into()],
        min_kernel: Some((4, 8)),
        ..Cond::default()
    };
    assert!(a.holds_all(&h));
    let newer = Cond {
        min_kernel: Some((7, 0)),
        ..Cond::default()
    };
    assert!(!newer.holds_all(&h));
    assert_eq!(parse_version("6.18.0-rc1"), Some((6, 18)));
}

#[test]
fn docker_profiles_parse_and_bad_ones_say_why() {
    let p = docker::parse(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"archMap":[],
            "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
                        {"name":"clone","action":"SCMP_ACT_ALLOW",
                         "args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}]},
                        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13,
                         "includes":{"minKernel":"4.8"},"excludes":{"caps":["CAP_SYS_ADMIN"]}}]}"#,
    )
    .unwrap();
    assert_eq!(p.default_action, Action::Errno(38));
    assert_eq!(
        p.rules[1].args,
        vec![(
            0,
            Cmp::MaskedEq {
                mask: 2114060288,
                value: 0
            }
        )]
    );
    assert_eq!(p.rules[2].action, Action::Errno(13));
    compile(&p, &[], &host(caps::DEFAULT)).unwrap();
    for (bad, says) in [
        ("{}", "defaultAction"),
        (r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#, "listener"),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":9,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
            "index 9",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_SOMETIMES"}]}]}"#,
            "SCMP_CMP_SOMETIMES",
        ),
    ] {
        let e = docker::parse(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

/// As runc through Docker: no `flags`, or an empty list (which the runtime
/// spec's `omitempty` drops), gets SPEC_ALLOW where the kernel has it; a
/// list gets exactly its flags; an unknown flag is refused.
#[test]
fn docker_profile_flags_are_installed_as_runc_installs_them() {
    use crate::sys::seccomp::{FLAG_LOG, FLAG_SPEC_ALLOW, FLAG_TSYNC};
    let with = |flags: &str| {
        docker::parse(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW"{flags},"syscalls":[]}}"#
        ))
    };
    let none = with("").unwrap().flags;
    assert_eq!(none, InstallFlags::default());
    assert_eq!((none.required, none.if_known), (0, FLAG_SPEC_ALLOW));
    let empty = with(r#","flags":[]"#).unwrap().flags;
    assert_eq!(empty, InstallFlags::default());
    let log = with(r#","flags":["SECCOMP_FILTER_FLAG_LOG"]"#)
        .unwrap()
        .flags;
    assert_eq!((log.required, log.if_known), (FLAG_LOG, 0));
    let all = with(
        r#","flags":["SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_TSYNC"]"#,
    )
    .unwrap()
    .flags;
    assert_eq!(all.required, FLAG_SPEC_ALLOW | FLAG_LOG | FLAG_TSYNC);
    let e = with(r#","flags":["SECCOMP_FILTER_FLAG_NEW_LISTENER"]"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("flags: unknown flag 'SECCOMP_FILTER_FLAG_NEW_LISTENER'"),
        "{e}"
    );
    let p = with(r#","flags":["SECCOMP_FILTER_FLAG_LOG"]"#).unwrap();
    let f = compile(&p, &[], &host(caps::DEFAULT)).unwrap();
    assert_eq!(f.flags, p.flags);
}

/// 32-bit x86 programs get the same policy, by their own numbers, with
/// 32-bit arguments.
#[cfg(target_arch = "x86_64")]
#[test]
fn i386_programs_get_the_profile_by_their_own_numbers() {
    const I386: u32 = 0x4000_0003;
    let nr32 = |name: &str| {
        syscalls::x86::Sysno::iter()
            .find(|s| s.name() == name)
            .unwrap()
            .id() as u32
    };
    let f = compile(&default::profile(), &[], &host(caps::DEFAULT)).unwrap();
    let p = &f.programs[0];
    let call = |name: &str, args: [u64; 6]| run(p, nr32(name), I386, args);
    for ok in [
        "read",
        "write",
        "execve",
        "socketcall",
        "chown32",
        "setuid32",
    ] {
        assert_eq!(call(ok, [0; 6]), ALLOW, "{ok}");
    }
    for denied in ["keyctl", "unshare", "mount", "kexec_load", "setns"] {
        assert_eq!(call(denied, [0; 6]), EPERM, "{denied}");
    }
    // i386's numbers are not x86_64's: 310 is unshare there, and a 64-bit
    // program's 310 (process_vm_readv) is judged by the other part.
    assert_eq!(nr32("unshare"), 310);
    assert_eq!(run(p, 310, codegen::audit_arch().unwrap(), [0; 6]), ALLOW);
    let newuser = libc::CLONE_NEWUSER as u64;
    let sigchld = libc::SIGCHLD as u64;
    assert_eq!(call("clone", [sigchld, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(call("clone", [newuser | sigchld, 0, 0, 0, 0, 0]), EPERM);
    // Only the low word is an i386 argument; the kernel ignores the rest.
    assert_eq!(
        call("clone", [(newuser << 32) | sigchld, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        call("socket", [(1 << 32) | libc::AF_INET as u64, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        call("socket", [libc::AF_VSOCK as u64, 0, 0, 0, 0, 0]),
        EPERM
    );
    // Numbers past the table keep the default.
    assert_eq!(run(p, 5000, I386, [0; 6]), EPERM);
    // The fake-root rules reach the 32-bit calls too.
    let fake = compile(
        &default::profile(),
        &fake_root_rules(),
        &host(caps::DEFAULT),
    )
    .unwrap();
    let mknod = run(
        &fake.programs[0],
        nr32("mknod"),
        I386,
        [0, libc::S_IFCHR as u64, 0, 0, 0, 0],
    );
    assert_eq!(mknod, libc::SECCOMP_RET_ERRNO);
    assert_eq!(
        run(&fake.programs[0], nr32("fchown32"), I386, [0; 6]),
        libc::SECCOMP_RET_ERRNO
    );
}

/// Whether `x` meets `c`, written out here rather than taken from the code
/// generator, so that a mistake there cannot hide in both sides.
fn meets(c: Cmp, x: u64) -> bool {
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

/// What a verdict decides for these arguments, read straight from its
/// rules (a 32-bit architecture's arguments are their low words).
fn decide(v: &Verdict, wide: bool, args: [u64; 6]) -> u32 {
    let arg = |i: u8| {
        let a = args[i as usize];
        if wide {
            a
        } else {
            a & 0xffff_ffff
        }
    };
    v.rules
        .iter()
        .find(|(conds, _)| conds.iter().all(|(i, c)| meets(*c, arg(*i))))
        .map_or(v.fallback, |(_, a)| *a)
        .ret()
}

/// Arguments that sit on each side of every value a verdict compares.
fn probes(v: &Verdict) -> Vec<[u64; 6]> {
    let mut out = vec![[0; 6], [u64::MAX; 6]];
    for (conds, _) in &v.rules {
        for (i, c) in conds {
            let vals = match *c {
                Cmp::MaskedEq { mask, value } => vec![value, mask, value | mask, !mask],
                Cmp::Eq(x) | Cmp::Ne(x) | Cmp::Lt(x) | Cmp::Le(x) | Cmp::Ge(x) | Cmp::Gt(x) => {
                    vec![x, x.wrapping_sub(1), x.wrapping_add(1)]
                }
            };
            for x in vals {
                for x in [x, x | 1 << 32, x & 0xffff_ffff, x | 0xffff_ffff_0000_0000] {
                    let mut a = [0; 6];
                    a[*i as usize] = x;
                    out.push(a);
                }
            }
        }
    }
    out
}

/// The program decides every syscall number of each architecture, with
/// arguments around every compared value, as the rules it came from do:
/// for the default profile, with CAP_SYS_ADMIN, with fake root and with
/// a profile whose default is to allow.
#[test]
fn programs_decide_as_their_rules() {
    let allow_all = Profile {
        default_action: Action::Allow,
        rules: vec![],
        flags: InstallFlags::default(),
    };
    for (profile, extra, c) in [
        (default::profile(), vec![], caps::DEFAULT),
        (default::profile(), vec![], caps::DEFAULT.with(21)),
        (default::profile(), fake_root_rules(), caps::DEFAULT),
        (allow_all, fake_root_rules(), caps::DEFAULT),
    ] {
        let h = host(c);
        let secs = sections(&profile, &extra, &h).unwrap();
        let prog = compile(&profile, &extra, &h).unwrap().programs.remove(0);
        for s in &secs {
            let plain = |a| Verdict {
                rules: vec![],
                fallback: a,
            };
            // Every number a range of the search can start at (a number
            // with rules, the one after it, where `above` begins) and the
            // one before it, besides every number of the table.
            let mut nrs: Vec<u32> = (0..1100).collect();
            let starts = s.per.keys().flat_map(|n| [*n, n.saturating_add(1)]);
            for start in
                starts
                    .chain(s.above.map(|(a, _)| a))
                    .chain([0x4000_0000, 0x8000_0000, u32::MAX])
            {
                nrs.extend([start, start.saturating_sub(1)]);
            }
            nrs.sort_unstable();
            nrs.dedup();
            for nr in nrs {
                let v = match s.above {
                    Some((start, a)) if nr >= start => plain(a),
                    _ => s
                        .per
                        .get(&nr)
                        .cloned()
                        .unwrap_or_else(|| plain(profile.default_action)),
                };
                for args in probes(&v) {
                    assert_eq!(
                        run(&prog, nr, s.arch, args),
                        decide(&v, s.wide, args),
                        "arch {:#x} nr {nr} args {args:x?}",
                        s.arch
                    );
                }
            }
        }
    }
}

/// The kernel fills its allow cache by running a new filter on each
/// syscall number with nothing else known (seccomp_cache_prepare): a path
/// that loads an argument or uses an instruction it does not model is
/// never cached, and then every such call runs the whole filter. Every
/// unconditionally allowed syscall's path stays within what it models.
#[test]
fn allowed_syscalls_stay_cacheable() {
    let h = host(caps::DEFAULT);
    let profile = default::profile();
    let prog = compile(&profile, &[], &h).unwrap().programs.remove(0);
    // seccomp_is_const_allow's model: loads of nr and arch, K jumps,
    // AND with K, ret; anything else gives up.
    let constant = |nr: u32, arch: u32| -> Option<u32> {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let f = prog[pc];
            let code = f.code as u32;
            pc += 1;
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    acc = match f.k {
                        0 => nr,
                        4 => arch,
                        _ => return None,
                    }
                }
                c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => acc &= f.k,
                c if c == libc::BPF_JMP | libc::BPF_JA => pc += f.k as usize,
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K
                    || c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K
                    || c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K =>
                {
                    let yes = match c & 0xf0 {
                        x if x == libc::BPF_JEQ => acc == f.k,
                        x if x == libc::BPF_JGT => acc > f.k,
                        _ => acc >= f.k,
                    };
                    pc += if yes { f.jt } else { f.jf } as usize;
                }
                c if c == libc::BPF_RET | libc::BPF_K => return Some(f.k),
                _ => return None,
            }
        }
    };
    let mut cached = 0;
    for s in sections(&profile, &[], &h).unwrap() {
        for (nr, v) in &s.per {
            if v.rules
                .first()
                .is_some_and(|(c, a)| c.is_empty() && *a == Action::Allow)
            {
                assert_eq!(
                    constant(*nr, s.arch),
                    Some(ALLOW),
                    "nr {nr} of {:#x}",
                    s.arch
                );
                cached += 1;
            }
        }
    }
    assert!(cached > 600, "{cached}");
}

/// Whether `code` is one of the conditional jumps codegen emits (JEQ, JGT
/// or JGE on a constant), which the counts below model; any other (JSET
/// with no side falling through translates differently) stops them.
fn compares(code: u32) -> bool {
    [libc::BPF_JEQ, libc::BPF_JGT, libc::BPF_JGE]
        .iter()
        .any(|j| code == libc::BPF_JMP | j | libc::BPF_K)
}

/// How many eBPF instructions the kernel translates `prog` to
/// (bpf_convert_filter): a conditional jump with neither side falling
/// through becomes a jump and a `ja`, a constant from 2^31 up is moved to
/// a register first, and a `ret` is a move and an exit; three more set up.
fn ebpf_len(prog: &[libc::sock_filter]) -> usize {
    3 + prog
        .iter()
        .map(|f| match f.code as u32 {
            c if compares(c) => {
                1 + usize::from(f.jt != 0 && f.jf != 0) + usize::from(f.k >= 1 << 31)
            }
            c if c & 0x07 == libc::BPF_JMP && c != libc::BPF_JMP | libc::BPF_JA => {
                panic!("jump {c:#x}")
            }
            c if c == libc::BPF_RET | libc::BPF_K => 2,
            _ => 1,
        })
        .sum::<usize>()
}

/// Instructions the kernel runs to fill its allow cache: the program on
/// every syscall number of each architecture (seccomp_cache_prepare).
fn cache_steps(prog: &[libc::sock_filter], sections: &[codegen::Section]) -> usize {
    let mut steps = 0;
    for s in sections {
        for nr in 0..s.numbers {
            let (mut pc, mut acc) = (0usize, 0u32);
            loop {
                let f = prog[pc];
                let code = f.code as u32;
                pc += 1;
                steps += 1;
                match code {
                    c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                        acc = match f.k {
                            0 => nr,
                            4 => s.arch,
                            _ => break,
                        }
                    }
                    c if c == libc::BPF_JMP | libc::BPF_JA => pc += f.k as usize,
                    c if compares(c) => {
                        let yes = match c & 0xf0 {
                            x if x == libc::BPF_JEQ => acc == f.k,
                            x if x == libc::BPF_JGT => acc > f.k,
                            x if x == libc::BPF_JGE => acc >= f.k,
                            other => panic!("jump {other:#x}"),
                        };
                        pc += if yes { f.jt } else { f.jf } as usize;
                    }
                    c if c & 0x07 == libc::BPF_JMP => panic!("jump {c:#x}"),
                    _ => break,
                }
            }
        }
    }
    steps
}

/// The default program's cost at install: the syscall search's splits
/// trade a few steps of the allow-cache evaluation for fewer jumps that
/// translate to two eBPF instructions (with weight-balanced splits: 265
/// classic, 368 eBPF instructions, 10,095 steps; with these, 338 and
/// 10,173, of which the argument searches' halves take 20 instructions).
#[test]
fn the_default_program_is_cheap_to_install() {
    let h = host(caps::DEFAULT);
    let profile = default::profile();
    let prog = compile(&profile, &[], &h).unwrap().programs.remove(0);
    let secs = sections(&profile, &[], &h).unwrap();
    let (len, ebpf, steps) = (prog.len(), ebpf_len(&prog), cache_steps(&prog, &secs));
    eprintln!("{len} classic, {ebpf} eBPF instructions, {steps} steps");
    assert!(ebpf <= 345 && steps <= 10_700, "{len} {ebpf} {steps}");
}

/// The search's splits are worked out whenever the cached program is
/// missing, so their work must stay near the square of the leaves: a
/// thousand ranges (a profile that allows every other syscall) weigh
/// about a million splits, where trying every split would weigh 166
/// million.
#[test]
fn splitting_many_leaves_is_quadratic() {
    let n = 1000u64;
    let (_, weighed) = codegen::splits_weighed(&vec![1; n as usize], &vec![true; n as usize]);
    assert!(weighed <= 3 * n * n, "{weighed}");
}

/// Weighing only Knuth's range of splits is a heuristic here (a node is
/// one instruction or two), so its search is compared with the best of
/// every split on 60 random leaf weights (a fixed seed, so the same 60
/// every run): the worst took 3.1% more steps than the best; 4% leaves a
/// little room above that.
#[test]
fn bounded_splits_stay_near_the_best() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let mut worst = 1.0f64;
    for _ in 0..60 {
        let n = 2 + next(60) as usize;
        let weights: Vec<u64> = (0..n)
            .map(|_| match next(4) {
                0 => 1 + next(400),
                _ => 1 + next(8),
            })
            .collect();
        let acts: Vec<bool> = (0..n).map(|_| next(3) != 0).collect();
        let (steps, _) = codegen::splits_weighed(&weights, &acts);
        let best = codegen::exhaustive_steps(&weights, &acts);
        assert!(steps >= best, "{steps} < {best}");
        worst = worst.max(steps as f64 / best as f64);
    }
    assert!(worst <= 1.04, "{worst}");
}

/// A profile with hundreds of values for one argument compiles, and its
/// program decides around each value as the rules do; with a thousand it
/// is too long for the kernel, and says so.
#[test]
fn many_argument_values_compile_or_say_why() {
    let ioctl = |v: u64| Rule {
        names: vec!["ioctl".into()],
        action: Action::Allow,
        args: vec![(1, Cmp::Eq(v))],
        includes: Cond::default(),
        excludes: Cond::default(),
    };
    let profile = |n: u64| Profile {
        default_action: Action::Errno(1),
        rules: (0..n).map(|v| ioctl(3 * v + 7)).collect(),
        flags: InstallFlags::default(),
    };
    let h = host(caps::DEFAULT);
    let e = compile(&profile(1000), &[], &h).err().unwrap().to_string();
    assert!(e.contains("more than the kernel's 4096"), "{e}");
    let prog = compile(&profile(400), &[], &h).unwrap().programs.remove(0);
    let arch = codegen::audit_arch().unwrap();
    for x in (0..1300).chain([1 << 32 | 7, u64::MAX]) {
        let want = match (7..1207).contains(&x) && x % 3 == 1 {
            true => ALLOW,
            false => libc::SECCOMP_RET_ERRNO | 1,
        };
        assert_eq!(
            run(&prog, nr("ioctl"), arch, [0, x, 0, 0, 0, 0]),
            want,
            "{x}"
        );
    }
}

/// Arguments are searched in halves: the kernel cannot cache a call that
/// loads one, so every socket() and personality() call runs its search,
/// and no value may sit deep (with splits weighed for install, an
/// unlisted socket family ran 27 instructions).
#[test]
fn argument_searches_stay_shallow() {
    let h = host(caps::DEFAULT);
    let profile = default::profile();
    let prog = compile(&profile, &[], &h).unwrap().programs.remove(0);
    let s = &sections(&profile, &[], &h).unwrap()[0];
    for (name, most) in [("socket", 16), ("personality", 20)] {
        for args in probes(&s.per[&nr(name)]) {
            let (_, steps) = trace(&prog, nr(name), s.arch, args);
            assert!(steps <= most, "{name} {args:x?}: {steps}");
        }
    }
}

/// The install counts model only the jumps codegen emits: a JSET (two eBPF
/// instructions even with one side falling through) stops them rather
/// than being counted as a JGE.
#[test]
fn install_counts_refuse_jumps_they_do_not_model() {
    let jset = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    let prog = [
        libc::sock_filter {
            code: jset as u16,
            jt: 0,
            jf: 1,
            k: 1,
        },
        libc::sock_filter {
            code: ret as u16,
            jt: 0,
            jf: 0,
            k: ALLOW,
        },
        libc::sock_filter {
            code: ret as u16,
            jt: 0,
            jf: 0,
            k: EPERM,
        },
    ];
    let count = std::panic::catch_unwind(|| ebpf_len(&prog));
    assert!(count.is_err(), "{count:?}");
    let sections = [codegen::Section {
        arch: 0,
        per: HashMap::new(),
        above: None,
        numbers: 1,
        wide: true,
    }];
    assert!(std::panic::catch_unwind(|| cache_steps(&prog, &sections)).is_err());
}
