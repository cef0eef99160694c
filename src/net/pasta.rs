//! pasta(1)'s command line for one container: Podman 5's arguments
//! (containers/common libnetwork/pasta) adapted to a supervised helper that
//! stays in the foreground.
//!
//! This module builds arguments and, when an option only newer builds have
//! matters, reads `pasta --help` once; starting, readiness and clean-up are
//! `helper`'s.

use super::addrs::{pasta_dns_forward, PASTA_HOST_LOOPBACK};
use super::options::PastaOptions;
use super::ports::{PortMapping, Protocol};
use super::spawned::Target;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Whether the pasta at `binary` lists `option` in its `--help` (older
/// builds print help on stderr, newer ones on stdout).
pub fn supports(binary: &Path, option: &str) -> bool {
    std::process::Command::new(binary)
        .arg("--help")
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| {
            let has = |b: &[u8]| {
                String::from_utf8_lossy(b)
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .any(|w| w == option)
            };
            has(&o.stdout) || has(&o.stderr)
        })
}

/// The file to execute for the pasta at `binary`: the AVX2 build beside
/// what it resolves to (`passt.avx2`) when this CPU has AVX2, else `binary`.
/// pasta's first act is to re-execute itself into that build under the same
/// conditions, which costs an exec on every container start.
pub fn executable(binary: &Path) -> PathBuf {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        if let Ok(real) = std::fs::canonicalize(binary) {
            let mut avx2 = real.into_os_string();
            avx2.push(".avx2");
            let avx2 = PathBuf::from(avx2);
            if avx2.is_file() {
                return avx2;
            }
        }
    }
    binary.to_path_buf()
}

/// For `--map-gw`, use `--map-host-loopback 169.254.1.2` where pasta has it,
/// so the container keeps reaching the real gateway; older pasta maps the
/// gateway itself. Leaves explicit `--map-host-loopback` choices alone.
pub fn prefer_map_host_loopback(opts: &mut PastaOptions, binary: &Path) {
    if opts.map_gw && opts.map_host_loopback().is_none() && supports(binary, "--map-host-loopback")
    {
        opts.args.extend([
            "--map-host-loopback".into(),
            PASTA_HOST_LOOPBACK.to_string(),
        ]);
    }
}

/// The arguments for pasta: hutch's, then the user's pass-through ones, then
/// defaults the user did not override, then the target namespace.
/// `as_root`: pasta runs as root, where it would otherwise switch to
/// `nobody` (pasta(1), `--runas`), who may not enter a user namespace that
/// root owns; so it is told to stay root (it still isolates itself).
pub fn args(
    opts: &PastaOptions,
    target: &Target,
    ports: &[PortMapping],
    pid_file: &Path,
    as_root: bool,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["--config-net".into()];
    if as_root && !opts.has(&["--runas"]) {
        a.extend(["--runas".into(), "0:0".into()]);
    }
    for p in ports {
        // `-t 127.0.0.1/8080-8080:80-80`: bind the host address only. For a
        // loopback client pasta then splices the connection to the namespace's
        // loopback instead of sending it through the tap device, which is
        // several times faster (pasta(1), "Handling of local traffic in pasta").
        a.push(match p.protocol {
            Protocol::Tcp => "-t".into(),
            Protocol::Udp => "-u".into(),
        });
        let addr = match p.host_ip {
            IpAddr::V4(v) => v.to_string(),
            IpAddr::V6(v) => v.to_string(),
        };
        a.push(
            format!(
                "{addr}/{}-{}:{}-{}",
                p.host_port,
                p.host_port + (p.range - 1),
                p.container_port,
                p.container_port + (p.range - 1)
            )
            .into(),
        );
    }
    a.extend(opts.args.iter().map(OsString::from));
    // pasta's default for each direction is "auto": forward every port that
    // something listens on. A container must publish explicitly, so "none"
    // unless the user said otherwise (as podman does).
    let tcp_in =
        !opts.has(&["-t", "--tcp-ports"]) && !ports.iter().any(|p| p.protocol == Protocol::Tcp);
    let udp_in =
        !opts.has(&["-u", "--udp-ports"]) && !ports.iter().any(|p| p.protocol == Protocol::Udp);
    for (none, flag) in [
        (tcp_in, "-t"),
        (udp_in, "-u"),
        (!opts.has(&["-T", "--tcp-ns"]), "-T"),
        (!opts.has(&["-U", "--udp-ns"]), "-U"),
    ] {
        if none {
            a.extend([flag.into(), "none".into()]);
        }
    }
    // Without this pasta maps the gateway address to the host's loopback, so
    // the container could reach every service listening there.
    if !opts.host_loopback() {
        a.push("--no-map-gw".into());
    }
    if opts.dns_forward().is_none() {
        a.extend([
            "--dns-forward".into(),
            pasta_dns_forward(opts).to_string().into(),
        ]);
    }
    // --foreground keeps pasta our child, so it can be supervised and gets the
    // parent-death signal; the pid is written to the pid file once the
    // namespace is configured, which is the readiness signal.
    a.extend([
        "--quiet".into(),
        "--foreground".into(),
        "--pid".into(),
        pid_file.into(),
    ]);
    match target {
        Target::Pid(pid) => a.push(pid.to_string().into()),
        Target::Paths { netns, userns } => {
            a.extend([
                "--userns".into(),
                userns.into(),
                "--netns".into(),
                netns.into(),
            ]);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::options::HelperRequest;
    use std::os::unix::fs::PermissionsExt;

    fn fake_pasta(dir: &Path, help: &str) -> std::path::PathBuf {
        let p = dir.join("pasta");
        std::fs::write(&p, format!("#!/bin/sh\ncat >&2 <<'EOF'\n{help}\nEOF\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn map_gw_uses_map_host_loopback_only_where_pasta_has_it() {
        let d = tempfile::tempdir().unwrap();
        let new = fake_pasta(
            d.path(),
            "  --map-host-loopback ADDR\tTranslate ADDR to refer to host",
        );
        let mut o = opts("pasta:--map-gw");
        prefer_map_host_loopback(&mut o, &new);
        assert_eq!(o.map_host_loopback(), Some("169.254.1.2"));
        let a = text(&args(&o, &Target::Pid(1), &[], Path::new("/p"), false));
        assert!(
            a.contains("--map-host-loopback 169.254.1.2") && !a.contains("--no-map-gw"),
            "{a}"
        );
        let d = tempfile::tempdir().unwrap();
        let old = fake_pasta(
            d.path(),
            "  --no-map-gw\t\tDon't map gateway address to host",
        );
        let mut o = opts("pasta:--map-gw");
        prefer_map_host_loopback(&mut o, &old);
        assert_eq!(o.map_host_loopback(), None);
        let mut off = opts("pasta");
        prefer_map_host_loopback(&mut off, &new);
        assert!(off.args.is_empty());
    }

    #[test]
    fn executable_prefers_the_avx2_build_beside_the_real_file() {
        let d = tempfile::tempdir().unwrap();
        let passt = d.path().join("passt");
        std::fs::write(&passt, "").unwrap();
        let pasta = d.path().join("pasta");
        std::os::unix::fs::symlink("passt", &pasta).unwrap();
        assert_eq!(executable(&pasta), pasta, "no AVX2 build");
        std::fs::write(d.path().join("passt.avx2"), "").unwrap();
        #[cfg(target_arch = "x86_64")]
        let expected = if std::arch::is_x86_feature_detected!("avx2") {
            std::fs::canonicalize(d.path()).unwrap().join("passt.avx2")
        } else {
            pasta.clone()
        };
        #[cfg(not(target_arch = "x86_64"))]
        let expected = pasta.clone();
        assert_eq!(executable(&pasta), expected);
    }

    fn opts(s: &str) -> PastaOptions {
        match HelperRequest::parse(s).unwrap() {
            HelperRequest::Pasta(p) => p,
            _ => unreachable!(),
        }
    }

    fn text(a: &[OsString]) -> String {
        a.iter()
            .map(|s| s.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn podman_defaults() {
        let a = args(
            &opts("pasta"),
            &Target::Pid(42),
            &[],
            Path::new("/r/pasta.pid"),
            false,
        );
        assert_eq!(
            text(&a),
            "--config-net -t none -u none -T none -U none --no-map-gw --dns-forward 169.254.1.1 \
             --quiet --foreground --pid /r/pasta.pid 42"
        );
        let root = text(&args(
            &opts("pasta"),
            &Target::Pid(1),
            &[],
            Path::new("/p"),
            true,
        ));
        assert!(
            root.starts_with("--config-net --runas 0:0 -t none"),
            "{root}"
        );
        let own = text(&args(
            &opts("pasta:--runas,0"),
            &Target::Pid(1),
            &[],
            Path::new("/p"),
            true,
        ));
        assert_eq!(own.matches("--runas").count(), 1, "{own}");
    }

    #[test]
    fn ports_and_user_args() {
        let ports = [
            PortMapping {
                host_ip: "127.0.0.1".parse().unwrap(),
                host_port: 8080,
                container_port: 80,
                protocol: Protocol::Tcp,
                range: 1,
            },
            PortMapping {
                host_ip: "::1".parse().unwrap(),
                host_port: 5300,
                container_port: 53,
                protocol: Protocol::Udp,
                range: 2,
            },
        ];
        let target = Target::Paths {
            netns: "/proc/7/ns/net".into(),
            userns: "/proc/7/ns/user".into(),
        };
        let a = text(&args(
            &opts("pasta:--map-gw,-T,3000,--mtu,1500"),
            &target,
            &ports,
            Path::new("/p"),
            false,
        ));
        assert!(a.starts_with("--config-net -t 127.0.0.1/8080-8080:80-80 -u ::1/5300-5301:53-54 -T 3000 --mtu 1500 -U none --dns-forward"), "{a}");
        assert!(
            !a.contains("--no-map-gw") && !a.contains("-t none") && !a.contains("-u none"),
            "{a}"
        );
        assert!(
            a.ends_with("--userns /proc/7/ns/user --netns /proc/7/ns/net"),
            "{a}"
        );
        let a = text(&args(
            &opts("pasta:--dns-forward,10.0.0.53"),
            &Target::Pid(1),
            &[],
            Path::new("/p"),
            false,
        ));
        assert_eq!(a.matches("--dns-forward").count(), 1, "{a}");
    }
}
