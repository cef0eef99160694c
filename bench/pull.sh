#!/usr/bin/env bash
# Pull speed, side by side in one hyperfine run on the same machine: a
# ~100 MB image of 4 gzip layers from a docker-registry on 127.0.0.1,
#   hutch pull                (download + verify into the store)
#   podman pull, rootless     (download + verify + unpack into overlay storage)
# Each run starts from an empty store. hutch unpacks layers lazily on first
# run, podman at pull time; the printout says so next to the ratio.
# Run as root with BENCH_USER=name (the registry runs as root, the pulls as
# the user), or as a user with REGISTRY=host:port of a registry holding
# bench/pull:1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
  user=${BENCH_USER:?as root, set BENCH_USER to an unprivileged user}
  work=$(mktemp -d /tmp/hutch-bench.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
  docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
  reg=$!
  trap 'kill $reg 2>/dev/null || true' EXIT
  # An OCI layout with 4 layers of 25 MB incompressible data each.
  python3 - "$work/layout" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
blobs = os.path.join(out, "blobs/sha256")
os.makedirs(blobs)
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(blobs, h), "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
layers, diffs = [], []
for i in range(4):
    t = io.BytesIO()
    with tarfile.open(fileobj=t, mode="w") as tf:
        data = os.urandom(25 << 20)
        ti = tarfile.TarInfo(f"data{i}.bin"); ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    raw = t.getvalue()
    diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
    layers.append(dict(put(gzip.compress(raw, 1)), mediaType="application/vnd.oci.image.layer.v1.tar+gzip"))
cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
       "rootfs": {"type": "layers", "diff_ids": diffs}, "history": []}
c = dict(put(json.dumps(cfg).encode()), mediaType="application/vnd.oci.image.config.v1+json")
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c, "layers": layers}
md = dict(put(json.dumps(m).encode()), mediaType="application/vnd.oci.image.manifest.v1+json",
          annotations={"org.opencontainers.image.ref.name": "pull"})
json.dump({"schemaVersion": 2, "manifests": [md]}, open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  skopeo copy -q --dest-tls-verify=false "oci:$work/layout:pull" "docker://127.0.0.1:$port/bench/pull:1"
  cp "${HUTCH:-$here/../target/release/hutch}" "$work/hutch"
  chown -R "$user" "$work"
  runuser -u "$user" -- env HUTCH="$work/hutch" BENCH_WORK="$work" REGISTRY="127.0.0.1:$port" \
    bash "$here/pull.sh" "$@"
  exit
fi

hutch=${HUTCH:-$here/../target/release/hutch}
work=${BENCH_WORK:-$(mktemp -d /tmp/hutch-bench.XXXXXX)}
registry=${REGISTRY:?set REGISTRY=host:port}
runs=${RUNS:-5}
ref="$registry/bench/pull:1"
root="$work/hutch-root"
pod="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$work/xdg-run}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/pull.json" \
  --prepare "rm -rf $root" -n hutch "$hutch --root $root pull -q $ref" \
  --prepare "$pod rmi -af" -n podman "$pod pull -q --tls-verify=false $ref"

python3 - "$work/pull.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
h, p = r["hutch"], r["podman"]
print(f"hutch pull median {h:.3f} s; podman pull {p:.3f} s; podman/hutch = {p/h:.1f}x "
      "(hutch unpacks at first run, podman at pull)")
PY
