//! Docker parity for networks: `hutch network ...` in Docker's shapes, and
//! containers on a user-defined network reaching each other by name and
//! alias through the shared network namespace (including a server started
//! after its client, and one restarted with another address), published
//! ports from such a network, `network connect`/`disconnect` (a connect
//! that dies half-way, a disconnect whose routes cannot be fixed, one
//! whose helper dies before deleting the veth, restarts by a `--restart`
//! policy after either, a connect that waits for a container being
//! started, and one interrupted by Ctrl-C), and `hutch` run by root. Every test runs as
//! both unprivileged test users and as root, each in its own `--root`.
//!
//! Traffic stays on the test's own namespaces and the host's loopback.

use crate::common::{
    eventually, for_each_user_and_root, free_port, mark_starting, one_error, put_record,
    record_file, root_world, skip, stdout, World,
};
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

/// The shared namespace's keeper and pasta this world started, from their
/// records under the data dir.
fn keeper_pids(w: &World) -> Vec<i32> {
    let run = w.root().join("networks/run");
    let Ok(entries) = std::fs::read_dir(&run) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("netns-"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|t| {
            let f: Vec<i32> = t
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            [f.first().copied(), f.get(2).copied()]
        })
        .flatten()
        .collect()
}

/// Ends what a world left running: its containers, then (if they have not
/// gone by themselves) the shared namespace's keeper and pasta.
struct Cleanup<'a>(&'a World);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let w = self.0;
        let ids = stdout(&w.run(&["ps", "-aq"]));
        for id in ids.split_whitespace() {
            w.run(&["rm", "-f", id]);
        }
        for pid in keeper_pids(w) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A busybox server on port 8080 that answers every connection with `word`
/// (one listening socket throughout, so no connection finds it closed).
fn serve(word: &str) -> String {
    format!("exec nc -lk -p 8080 -e echo {word}")
}

/// `hutch run -d --name NAME --network NET FLAGS... BB` serving `word`
/// on port 8080 (see `serve`).
fn serve_on(w: &World, (net, name): (&str, &str), flags: &[&str], bb: &str, word: &str) {
    let script = serve(word);
    let mut args = vec!["run", "-d", "--name", name, "--network", net];
    args.extend_from_slice(flags);
    args.extend([bb, "sh", "-c", &script]);
    w.ok(&args);
}

/// What the server on 127.0.0.1:`port` says, retried until it says something.
fn fetch(port: u16) -> String {
    let mut got = String::new();
    eventually(10, || {
        got.clear();
        TcpStream::connect(("127.0.0.1", port))
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.read_to_string(&mut got)
            })
            .is_ok()
            && !got.is_empty()
    });
    got
}

#[test]
fn network_lifecycle_and_docker_shapes() {
    for_each_user_and_root(|w| {
        let id = w.ok(&[
            "network",
            "create",
            "--subnet",
            "10.77.0.0/24",
            "--label",
            "team=db",
            "--internal",
            "backend",
        ]);
        assert_eq!(id.trim().len(), 64, "{id}");
        w.ok(&["network", "create", "front"]);
        let ls = w.ok(&["network", "ls"]);
        let lines: Vec<&str> = ls.lines().collect();
        let head: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(head, ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"], "{ls}");
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            [&id.trim()[..12], "backend", "bridge", "local"],
            "{ls}"
        );
        assert_eq!(lines.len(), 3, "{ls}");
        let q = w.ok(&["network", "ls", "-q", "--filter", "label=team=db"]);
        assert_eq!(q.trim(), &id.trim()[..12]);
        let names = w.ok(&[
            "network",
            "ls",
            "--filter",
            "name=fro",
            "--format",
            "{{.Name}} {{.Driver}}",
        ]);
        assert_eq!(names, "front bridge\n");

        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["network", "inspect", "backend"])).unwrap();
        let n = &v[0];
        assert_eq!(n["Name"], "backend");
        assert_eq!(n["Id"], id.trim());
        assert_eq!(n["Driver"], "bridge");
        assert_eq!(n["Scope"], "local");
        assert_eq!(n["Internal"], true);
        assert!(n["Created"].as_str().unwrap().ends_with('Z'), "{n}");
        assert_eq!(n["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/24");
        assert_eq!(n["IPAM"]["Config"][0]["Gateway"], "10.77.0.1");
        assert_eq!(n["Labels"]["team"], "db");
        assert!(n["Containers"].as_object().unwrap().is_empty());
        assert!(n["Options"].is_object());
        let f = w.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{range .IPAM.Config}}{{.Gateway}}{{end}}",
            "front",
        ]);
        assert_eq!(f, "front 10.89.1.1\n");

        let (code, err) = w.fails(&["network", "create", "front"]);
        assert_eq!(code, 125);
        assert!(one_error(&err) && err.contains("already exists"), "{err}");
        let (_, err) = w.fails(&["network", "create", "--subnet", "10.77.0.5/24", "x"]);
        assert!(
            one_error(&err) && err.contains("did you mean 10.77.0.0/24"),
            "{err}"
        );
        let (_, err) = w.fails(&["network", "create", "--subnet", "10.77.0.0/16", "y"]);
        assert!(err.contains("overlaps network backend"), "{err}");
        let (code, err) = w.fails(&["network", "rm", "nosuch"]);
        assert_eq!(code, 1);
        assert!(err.contains("network nosuch not found"), "{err}");
        let bb = w.busybox();
        let (_, err) = w.fails(&["run", "--rm", "--network", "nosuch", bb, "true"]);
        assert!(err.contains("hutch network create nosuch"), "{err}");

        assert_eq!(w.ok(&["network", "rm", "backend"]), "backend\n");
        assert_eq!(
            w.ok(&["network", "prune", "-f"]),
            "Deleted Networks:\nfront\n"
        );
        assert_eq!(w.ok(&["network", "ls", "-q"]), "");
    });
}

#[test]
fn containers_on_a_network_reach_each_other_by_name_and_alias() {
    for_each_user_and_root(|w| {
        let _c = Cleanup(&w);
        let bb = w.busybox();
        w.ok(&["network", "create", "appnet"]);
        serve_on(
            &w,
            ("appnet", "db"),
            &["--network-alias", "database"],
            bb,
            "db-here",
        );
        // A client that starts before its server: it must find `late`
        // once that starts, which no /etc/hosts written at its start can do.
        let wait_for_late = "for i in $(seq 1 150); do out=$(nc late 8080 </dev/null 2>/dev/null); \
                             if [ -n \"$out\" ]; then echo \"got $out\"; exit 0; fi; sleep 0.1; done; exit 1";
        w.ok(&[
            "run",
            "-d",
            "--name",
            "client",
            "--network",
            "appnet",
            bb,
            "sh",
            "-c",
            wait_for_late,
        ]);
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "appnet",
            bb,
            "sh",
            "-c",
            "nc db 8080 </dev/null; nc database 8080 </dev/null",
        ]);
        assert_eq!(out, "db-here\ndb-here\n");
        serve_on(&w, ("appnet", "late"), &[], bb, "late-here");
        assert_eq!(w.ok(&["wait", "client"]).trim(), "0");
        assert_eq!(w.ok(&["logs", "client"]), "got late-here\n");

        // inspect lists the running members with their addresses.
        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["network", "inspect", "appnet"])).unwrap();
        let members = v[0]["Containers"].as_object().unwrap();
        let addr_of = |v: &serde_json::Value, name: &str| -> String {
            v[0]["Containers"]
                .as_object()
                .unwrap()
                .values()
                .find(|c| c["Name"] == name)
                .map(|c| c["IPv4Address"].as_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(members.len(), 2, "{v}");
        let db_before = addr_of(&v, "db");
        assert!(db_before.starts_with("10.89.1."), "{v}");

        // The network is in use: refused, naming the container.
        let (code, err) = w.fails(&["network", "rm", "appnet"]);
        assert_eq!(code, 1);
        assert!(
            err.contains("in use by container") && err.contains("db"),
            "{err}"
        );

        // db restarted after its address was taken: another address, and
        // its name follows it.
        w.ok(&["stop", "-t", "1", "db"]);
        w.ok(&[
            "run",
            "-d",
            "--name",
            "squatter",
            "--network",
            "appnet",
            bb,
            "sleep",
            "300",
        ]);
        w.ok(&["start", "db"]);
        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["network", "inspect", "appnet"])).unwrap();
        let db_after = addr_of(&v, "db");
        assert!(
            !db_after.is_empty() && db_after != db_before,
            "{db_before} -> {v}"
        );
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "appnet",
            bb,
            "sh",
            "-c",
            "nslookup db | tail -n 3; nc db 8080 </dev/null",
        ]);
        let ip = db_after.split('/').next().unwrap();
        assert!(
            out.contains(&format!("Address: {ip}")) && out.ends_with("db-here\n"),
            "{out}"
        );
        // A name nobody has is passed upstream, not answered as a member.
        let (_, err) = w.fails(&[
            "run",
            "--rm",
            "--network",
            "appnet",
            bb,
            "nc",
            "-w",
            "1",
            "nobody-has-this",
            "8080",
        ]);
        assert!(
            err.contains("bad address") || err.contains("nobody-has-this"),
            "{err}"
        );
    });
}

#[test]
fn published_ports_on_a_user_network_answer_on_loopback() {
    for_each_user_and_root(|w| {
        let _c = Cleanup(&w);
        let bb = w.busybox();
        w.ok(&["network", "create", "webnet"]);
        let port = free_port();
        let publish = format!("{port}:8080");
        serve_on(&w, ("webnet", "web"), &["-p", &publish], bb, "web-here");
        assert_eq!(fetch(port), "web-here\n");
        assert_eq!(
            w.ok(&["port", "web"]).trim(),
            format!("8080/tcp -> 127.0.0.1:{port}")
        );
        // --ip and its mistakes.
        w.ok(&[
            "run",
            "--rm",
            "--network",
            "webnet",
            "--ip",
            "10.89.1.50",
            bb,
            "sh",
            "-c",
            "ip -4 addr show eth0 | grep -q 'inet 10.89.1.50/24'",
        ]);
        let (_, err) = w.fails(&[
            "run",
            "--rm",
            "--network",
            "webnet",
            "--ip",
            "10.1.1.1",
            bb,
            "true",
        ]);
        assert!(err.contains("not in network webnet's subnet"), "{err}");
        let (_, err) = w.fails(&["run", "--rm", "--network-alias", "x", bb, "true"]);
        assert!(
            one_error(&err) && err.contains("need a user-defined network"),
            "{err}"
        );
    });
}

/// The interfaces in `ctr`'s network namespace, sorted, space-separated.
fn interfaces(w: &World, ctr: &str) -> String {
    let out = w.ok(&["exec", ctr, "ls", "/sys/class/net"]);
    let mut v: Vec<&str> = out.split_whitespace().collect();
    v.sort_unstable();
    v.join(" ")
}

/// The networks `inspect` lists for `ctr`, with their addresses.
fn inspected_networks(w: &World, ctr: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", ctr])).unwrap();
    let nets = v[0]["NetworkSettings"]["Networks"].as_object().unwrap();
    nets.iter()
        .map(|(k, n)| (k.clone(), n["IPAddress"].as_str().unwrap().to_string()))
        .collect()
}

/// `inspect`'s `NetworkSettings.Networks[net].EndpointID` of `ctr`.
fn endpoint_id(w: &World, ctr: &str, net: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", ctr])).unwrap();
    let id = &v[0]["NetworkSettings"]["Networks"][net]["EndpointID"];
    id.as_str().unwrap_or_default().to_string()
}

/// Waits until `ctr` was restarted `count` times and its pid 1 runs.
fn restarted(w: &World, ctr: &str, count: u32) {
    let want = format!("{count} true");
    let mut got = String::new();
    let ok = eventually(20, || {
        got = stdout(&w.run(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Running}} {{.State.Pid}}",
            ctr,
        ]));
        got.trim().strip_suffix(" 0").is_none() && got.starts_with(&want)
    });
    let log = stdout(&w.run(&["logs", ctr]));
    assert!(ok, "{ctr}: {got:?}, not {want:?}; log: {log}");
}

#[test]
fn connect_and_disconnect_running_and_stopped_containers_on_several_networks() {
    for_each_user_and_root(|w| {
        let _c = Cleanup(&w);
        let bb = w.busybox();
        w.ok(&["network", "create", "--subnet", "10.89.11.0/24", "na"]);
        w.ok(&["network", "create", "--subnet", "10.89.12.0/24", "nb"]);
        serve_on(&w, ("na", "srv"), &[], bb, "srv-here");
        let sleeper = |name: &str, nets: &[&str]| {
            let mut args = vec!["run", "-d", "--name", name];
            for n in nets {
                args.extend(["--network", n]);
            }
            args.extend([bb, "sleep", "300"]);
            w.ok(&args);
        };
        sleeper("peer", &["na"]);
        sleeper("third", &["nb"]);
        // Two --network flags: two interfaces, both in inspect.
        sleeper("both", &["na", "nb"]);
        assert_eq!(interfaces(&w, "both"), "eth0 eth1 lo");
        let nets = inspected_networks(&w, "both");
        let names: Vec<&str> = nets.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["na", "nb"], "{nets:?}");
        assert!(nets[0].1.starts_with("10.89.11.") && nets[1].1.starts_with("10.89.12."));
        // An EndpointID per container and network, as in `network inspect`.
        let both_id = w
            .ok(&["inspect", "-f", "{{.Id}}", "both"])
            .trim()
            .to_string();
        let (ep_a, ep_b) = (endpoint_id(&w, "both", "na"), endpoint_id(&w, "both", "nb"));
        assert!(
            ep_a.len() == 64 && ep_a.bytes().all(|b| b.is_ascii_hexdigit()),
            "{ep_a}"
        );
        assert!(
            ep_a != ep_b && ep_a != both_id && ep_b.len() == 64,
            "{ep_a} {ep_b}"
        );
        assert_ne!(ep_a, endpoint_id(&w, "peer", "na"));
        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["network", "inspect", "nb"])).unwrap();
        assert_eq!(v[0]["Containers"][&both_id]["EndpointID"], ep_b.as_str());
        assert_eq!(
            w.ok(&["ps", "--filter", "name=both", "--format", "{{.Networks}}"]),
            "na,nb\n"
        );
        // `both` reaches srv (on na only) by name, and third (on nb only).
        assert_eq!(w.ok(&["exec", "both", "nc", "srv", "8080"]), "srv-here\n");
        w.ok(&["exec", "both", "ping", "-c", "1", "-W", "5", "third"]);
        // third shares nothing with srv yet.
        let (_, err) = w.fails(&["exec", "third", "nc", "-w", "1", "srv", "8080"]);
        assert!(err.contains("bad address"), "{err}");

        // srv runs: connected at once, under an alias too.
        assert_eq!(interfaces(&w, "srv"), "eth0 lo");
        // A connect whose helper dies half-way (after the interface was
        // made and the endpoint recorded) leaves neither behind.
        let out = w
            .hutch()
            .env("HUTCH_CRASH_AT", "plug-recorded")
            .args(["network", "connect", "nb", "srv"])
            .output()
            .unwrap();
        let err = crate::common::stderr(&out);
        assert!(!out.status.success(), "{err}");
        assert!(
            one_error(&err) && err.contains("cannot attach the container to network nb"),
            "{err}"
        );
        assert_eq!(interfaces(&w, "srv"), "eth0 lo");
        let nb_id = w.ok(&["network", "inspect", "-f", "{{.Id}}", "nb"]);
        let srv_id = w.ok(&["inspect", "-f", "{{.Id}}", "srv"]);
        let endpoint = w.root().join(format!(
            "networks/endpoints/{}/{}.json",
            nb_id.trim(),
            srv_id.trim()
        ));
        assert!(!endpoint.exists(), "{}", endpoint.display());
        w.ok(&["network", "connect", "--alias", "srv-b", "nb", "srv"]);
        assert_eq!(interfaces(&w, "srv"), "eth0 eth1 lo");
        let srv_nets = inspected_networks(&w, "srv");
        assert_eq!(srv_nets.len(), 2, "{srv_nets:?}");
        let srv_b = &srv_nets.iter().find(|(n, _)| n == "nb").unwrap().1;
        assert!(srv_b.starts_with("10.89.12."), "{srv_nets:?}");
        let out = w.ok(&[
            "exec",
            "third",
            "sh",
            "-c",
            "nslookup srv; nc srv 8080; nc srv-b 8080; ping -c 1 -W 5 srv >/dev/null && echo pinged",
        ]);
        assert!(
            out.contains(&format!("Address: {srv_b}"))
                && out.ends_with("srv-here\nsrv-here\npinged\n"),
            "{out}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["network", "inspect", "nb"])).unwrap();
        let on_nb: Vec<&str> = v[0]["Containers"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|c| c["Name"].as_str())
            .collect();
        assert!(on_nb.contains(&"srv") && on_nb.len() == 3, "{v}");
        // peer (na only) still reaches srv by its address on na.
        assert_eq!(w.ok(&["exec", "peer", "nc", "srv", "8080"]), "srv-here\n");

        // Docker's errors, one line each.
        let (code, err) = w.fails(&["network", "connect", "nb", "srv"]);
        assert!(code != 0 && one_error(&err), "{code} {err}");
        assert!(
            err.contains("endpoint with name srv already exists in network nb"),
            "{err}"
        );
        let (code, err) = w.fails(&["network", "connect", "nosuch", "srv"]);
        assert!(
            code != 0 && one_error(&err) && err.contains("network nosuch not found"),
            "{err}"
        );
        let (code, err) = w.fails(&["network", "connect", "nb", "nosuch"]);
        assert!(
            code != 0 && one_error(&err) && err.contains("no such container: nosuch"),
            "{err}"
        );
        let (code, err) = w.fails(&["network", "disconnect", "nb", "peer"]);
        assert!(code != 0 && one_error(&err), "{err}");
        assert!(err.contains("is not connected to the network nb"), "{err}");
        let (_, err) = w.fails(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--network",
            "na",
            bb,
            "true",
        ]);
        assert!(
            one_error(&err) && err.contains("cannot be combined"),
            "{err}"
        );
        let (_, err) = w.fails(&[
            "run",
            "--rm",
            "--network",
            "na",
            "--network",
            "na",
            bb,
            "true",
        ]);
        assert!(one_error(&err) && err.contains("given twice"), "{err}");
        w.ok(&["run", "-d", "--name", "plain", bb, "sleep", "300"]);
        let (_, err) = w.fails(&["network", "connect", "nb", "plain"]);
        assert!(
            one_error(&err) && err.contains("stop it, connect it and start it"),
            "{err}"
        );
        // A running container on a helper network (pasta by default,
        // slirp4netns) is refused too: connected while stopped, it starts
        // on the user-defined network instead of its helper.
        w.ok(&[
            "run",
            "-d",
            "--name",
            "slow",
            "--network",
            "slirp4netns",
            bb,
            "sleep",
            "300",
        ]);
        let (_, err) = w.fails(&["network", "connect", "nb", "slow"]);
        assert!(
            one_error(&err) && err.contains("on --network slirp4netns"),
            "{err}"
        );
        w.ok(&["stop", "-t", "0", "plain"]);
        w.ok(&["network", "connect", "--alias", "plainly", "nb", "plain"]);
        w.ok(&["start", "plain"]);
        assert_eq!(interfaces(&w, "plain"), "eth0 lo");
        let out = w.ok(&["exec", "third", "nslookup", "plainly"]);
        assert!(out.contains("Address: 10.89.12."), "{out}");
        w.ok(&["rm", "-f", "plain", "slow"]);
        // --network none, host and container:NAME have nothing to add a
        // network beside, even stopped (Docker refuses them too).
        for mode in ["none", "host", "container:third"] {
            w.ok(&["create", "--name", "joined", "--network", mode, bb, "true"]);
            let (_, err) = w.fails(&["network", "connect", "nb", "joined"]);
            assert!(
                one_error(&err) && err.contains("cannot be combined with other networks"),
                "{mode}: {err}"
            );
            w.ok(&["rm", "joined"]);
        }
        // Published ports go through the first network: it stays while
        // the container runs.
        w.ok(&[
            "run",
            "-d",
            "--name",
            "pub",
            "--network",
            "na",
            "--network",
            "nb",
            "-p",
            "127.0.0.1::80",
            bb,
            "sleep",
            "300",
        ]);
        let (_, err) = w.fails(&["network", "disconnect", "na", "pub"]);
        assert!(
            one_error(&err) && err.contains("publishes ports through its first network, na"),
            "{err}"
        );
        w.ok(&["network", "disconnect", "nb", "pub"]);
        w.ok(&["rm", "-f", "pub"]);

        // Disconnected at once: the interface goes, the name stops resolving.
        w.ok(&["network", "disconnect", "nb", "srv"]);
        assert_eq!(interfaces(&w, "srv"), "eth0 lo");
        let (_, err) = w.fails(&["exec", "third", "nc", "-w", "1", "srv", "8080"]);
        assert!(err.contains("bad address"), "{err}");
        assert_eq!(w.ok(&["exec", "peer", "nc", "srv", "8080"]), "srv-here\n");
        assert_eq!(inspected_networks(&w, "srv").len(), 1);
        // Off its first network, a container keeps the other, and its
        // default route moves there.
        w.ok(&["network", "disconnect", "na", "both"]);
        assert_eq!(interfaces(&w, "both"), "eth1 lo");
        let route = w.ok(&["exec", "both", "ip", "route", "show", "default"]);
        assert!(route.contains("via 10.89.12.1"), "{route}");
        // Its name server was na's gateway: still answering, by name.
        w.ok(&["exec", "both", "ping", "-c", "1", "-W", "5", "third"]);

        // A disconnect whose route fix-ups fail still takes the network
        // off the container, and says in one warning what it left.
        w.ok(&[
            "run",
            "-d",
            "--name",
            "fixup",
            "--cap-add",
            "NET_ADMIN",
            "--network",
            "na",
            "--network",
            "nb",
            bb,
            "sleep",
            "300",
        ]);
        w.ok(&["exec", "fixup", "ip", "link", "set", "eth1", "down"]);
        let out = w.run(&["network", "disconnect", "na", "fixup"]);
        let err = crate::common::stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(
            err.lines().count() == 1
                && err.starts_with("warning: container fixup is off network na")
                && err.contains("route"),
            "{err}"
        );
        assert_eq!(interfaces(&w, "fixup"), "eth1 lo");
        let nets = inspected_networks(&w, "fixup");
        assert!(nets.len() == 1 && nets[0].0 == "nb", "{nets:?}");
        assert_eq!(
            w.ok(&["ps", "--filter", "name=fixup", "--format", "{{.Networks}}"]),
            "nb\n"
        );
        w.ok(&["network", "connect", "na", "fixup"]);
        w.ok(&["rm", "-f", "fixup"]);

        // A disconnect whose helper dies before deleting the veth: the
        // network leaves the record, the warning names the disconnect, and
        // the address stays reserved while the interface may be there, so
        // no other container is given it; it is free once the container
        // is gone.
        sleeper("kept", &["na", "nb"]);
        let kept_ip = inspected_networks(&w, "kept")[1].1.clone();
        let out = w
            .hutch()
            .env("HUTCH_CRASH_AT", "unplug-entered")
            .args(["network", "disconnect", "nb", "kept"])
            .output()
            .unwrap();
        let err = crate::common::stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(
            err.lines().count() == 1
                && err.starts_with(
                    "warning: container kept is off network nb, but not all was undone: \
                     cannot take the container off network nb: the helper was killed by SIGKILL"
                )
                && err.contains(&format!("address {kept_ip} stays reserved")),
            "{err}"
        );
        assert_eq!(interfaces(&w, "kept"), "eth0 eth1 lo");
        assert_eq!(inspected_networks(&w, "kept").len(), 1);
        let taken = [
            "run",
            "--rm",
            "--network",
            "nb",
            "--ip",
            &kept_ip,
            bb,
            "true",
        ];
        let (_, err) = w.fails(&taken);
        assert!(one_error(&err) && err.contains(&kept_ip), "{err}");
        w.ok(&["rm", "-f", "kept"]);
        w.ok(&taken);

        // A container restarted by its policy keeps the networks connected
        // and loses those disconnected while it ran.
        let exit_on_go = "while [ ! -e /tmp/go ]; do sleep 0.1; done; rm /tmp/go; exit 3";
        w.ok(&[
            "run",
            "-d",
            "--name",
            "rs",
            "--restart",
            "on-failure",
            "--network",
            "na",
            bb,
            "sh",
            "-c",
            exit_on_go,
        ]);
        w.ok(&["network", "connect", "--alias", "rs-b", "nb", "rs"]);
        let rs_ep = endpoint_id(&w, "rs", "nb");
        w.ok(&["exec", "rs", "touch", "/tmp/go"]);
        restarted(&w, "rs", 1);
        assert_eq!(interfaces(&w, "rs"), "eth0 eth1 lo");
        let out = w.ok(&["exec", "third", "nslookup", "rs-b"]);
        assert!(out.contains("Address: 10.89.12."), "{out}");
        assert_eq!(endpoint_id(&w, "rs", "nb"), rs_ep);
        w.ok(&["network", "disconnect", "na", "rs"]);
        w.ok(&["exec", "rs", "touch", "/tmp/go"]);
        restarted(&w, "rs", 2);
        assert_eq!(interfaces(&w, "rs"), "eth0 lo");
        let nets = inspected_networks(&w, "rs");
        assert!(nets.len() == 1 && nets[0].0 == "nb", "{nets:?}");
        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["network", "inspect", "na"])).unwrap();
        assert!(
            !v[0]["Containers"]
                .as_object()
                .unwrap()
                .values()
                .any(|c| c["Name"] == "rs"),
            "{v}"
        );
        w.ok(&["rm", "-f", "rs"]);

        // A container between states (here: its record made to say that
        // pid 1 is being started, as during a restart) is waited for, not
        // changed in its record only: once it runs, the connect plugs it.
        let third_id = w.ok(&["inspect", "-f", "{{.Id}}", "third"]);
        let third_id = third_id.trim();
        let original = mark_starting(&w, third_id);
        let mut connect = w.hutch();
        connect.args(["network", "connect", "na", "third"]);
        let waiting = std::thread::spawn(move || connect.output().unwrap());
        std::thread::sleep(Duration::from_secs(1));
        let finished_early = waiting.is_finished();
        put_record(&w, third_id, &original);
        assert!(!finished_early, "connect did not wait for pid 1");
        let out = waiting.join().unwrap();
        assert!(out.status.success(), "{}", crate::common::stderr(&out));
        assert_eq!(interfaces(&w, "third"), "eth0 eth1 lo");
        w.ok(&["network", "disconnect", "na", "third"]);

        // Ctrl-C during a connect is held back until the change is done:
        // here the connect has recorded the network and waits for the
        // networks' lock (which the test holds) to plug the container.
        let held = hutch::sys::flock::lock(
            &w.root().join("networks/.lock"),
            hutch::sys::flock::Mode::Exclusive,
        )
        .unwrap();
        let mut connect = w
            .hutch()
            .args(["network", "connect", "na", "third"])
            .spawn()
            .unwrap();
        let recorded = eventually(10, || {
            String::from_utf8_lossy(&std::fs::read(record_file(&w, third_id)).unwrap())
                .contains("\"na\"")
        });
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(connect.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        std::thread::sleep(Duration::from_millis(200));
        drop(held);
        let status = connect.wait().unwrap();
        assert!(recorded, "the connect did not record the network first");
        use std::os::unix::process::ExitStatusExt;
        if status.signal() != Some(libc::SIGINT) {
            // Seen now and then in full runs under load (exit 0): what the
            // container and its record looked like then.
            panic!(
                "{status:?}, not SIGINT once the connect was done\nps -a: {}\nrecord: {}",
                w.ok(&["ps", "-a", "--no-trunc"]),
                String::from_utf8_lossy(&std::fs::read(record_file(&w, third_id)).unwrap())
            );
        }
        assert_eq!(interfaces(&w, "third"), "eth0 eth1 lo");
        assert_eq!(inspected_networks(&w, "third").len(), 2);
        w.ok(&["network", "disconnect", "na", "third"]);

        // A stopped container: on the network from its next start.
        w.ok(&["stop", "-t", "0", "peer"]);
        w.ok(&["network", "connect", "--alias", "lately", "nb", "peer"]);
        w.ok(&["start", "peer"]);
        assert_eq!(interfaces(&w, "peer"), "eth0 eth1 lo");
        let out = w.ok(&["exec", "third", "nslookup", "lately"]);
        assert!(out.contains("Address: 10.89.12."), "{out}");
        w.ok(&["stop", "-t", "0", "peer", "srv"]);
        w.ok(&["network", "disconnect", "na", "peer"]);
        // srv (stopped) still names na.
        let (_, err) = w.fails(&["network", "rm", "na"]);
        assert!(err.contains("in use by container srv"), "{err}");
        w.ok(&["rm", "srv"]);
        w.ok(&["network", "rm", "na"]);
    });
}

#[test]
fn the_shared_namespace_goes_when_no_container_uses_it() {
    let Some(w) = crate::common::any_user().map(World::new) else {
        return skip("no test user");
    };
    let _c = Cleanup(&w);
    let bb = w.busybox();
    w.ok(&["network", "create", "n"]);
    w.ok(&["run", "--rm", "--network", "n", bb, "true"]);
    let pids = keeper_pids(&w);
    assert_eq!(pids.len(), 2, "the keeper and its pasta");
    assert!(pids.iter().all(|p| crate::common::live(*p)));
    assert!(
        eventually(30, || pids.iter().all(|p| !crate::common::live(*p))),
        "keeper and pasta still run"
    );
    assert!(keeper_pids(&w).is_empty());
    // A keeper killed outright is replaced on next use.
    serve_on(&w, ("n", "a"), &[], bb, "a-here");
    let pids = keeper_pids(&w);
    for p in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    w.ok(&["rm", "-f", "a"]);
    serve_on(&w, ("n", "a"), &[], bb, "a-here");
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "n",
        bb,
        "sh",
        "-c",
        "nc a 8080 </dev/null",
    ]);
    assert_eq!(out, "a-here\n");
    assert!(keeper_pids(&w).iter().all(|p| !pids.contains(p)));
}

#[test]
fn root_runs_containers_on_the_default_network() {
    let Some(w) = root_world() else {
        return;
    };
    let _c = Cleanup(&w);
    let bb = w.busybox();
    let out = w.ok(&[
        "run",
        "--rm",
        bb,
        "sh",
        "-c",
        "id -u; ip -4 -o addr show eth0 | grep -c inet",
    ]);
    assert_eq!(out, "0\n1\n");
    let port = free_port();
    let publish = format!("{port}:8080");
    w.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &publish,
        bb,
        "sh",
        "-c",
        &serve("root-web"),
    ]);
    assert_eq!(fetch(port), "root-web\n");
}
