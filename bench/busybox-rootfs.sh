#!/bin/sh
# Unpack the root filesystem of the busybox OCI layout OCI_DIR (one layer,
# ../shared/images/busybox-musl) into DEST, for the benchmarks that need the
# files themselves (bwrap's root, an image with extra files).
set -e
oci=$1
dest=$2
mkdir -p "$dest"
layer=$(python3 - "$oci" <<'PY'
import json, sys, os
d = sys.argv[1]
m = json.load(open(os.path.join(d, "index.json")))["manifests"][0]["digest"].split(":")[1]
man = json.load(open(os.path.join(d, "blobs/sha256", m)))
print(os.path.join(d, "blobs/sha256", man["layers"][0]["digest"].split(":")[1]))
PY
)
# Device nodes in the layer cannot be created without privilege; nothing
# here needs them.
tar -xzf "$layer" -C "$dest" 2>/dev/null || true
