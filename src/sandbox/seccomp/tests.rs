use super::*;
use crate::sandbox::caps;

fn host(c: CapSet) -> Host {
    Host {
        arch: "amd64",
        kernel: (6, 1),
        caps: c,
    }
}

#[test]
fn default_profile_compiles_small_enough_for_the_kernel() {
    let f = compile(&default::profile(), &[], &host(caps::DEFAULT)).unwrap();
    // The allow-list, clone3's ENOSYS, and the x32 guard on x86_64.
    assert!(f.0.len() >= 2);
    assert!(f.0.iter().all(|p| p.len() < 4096), "BPF_MAXINSNS");
    let with_admin = compile(&default::profile(), &[], &host(caps::DEFAULT.with(21))).unwrap();
    assert!(
        with_admin.0[0].len() > f.0[0].len(),
        "SYS_ADMIN allows more"
    );
    let fake = compile(
        &default::profile(),
        &fake_root_rules(),
        &host(caps::DEFAULT),
    )
    .unwrap();
    assert_eq!(fake.0.len(), f.0.len() + 1);
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
        let e = docker::parse(bad).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
}
