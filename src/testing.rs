//! Unit-test support shared by modules: where the test images are and what a
//! test does when the machine cannot run it. Compiled only for tests; the
//! integration tests' harness (tests/it/common.rs) follows the same rules.

use std::path::{Path, PathBuf};

/// The test images: `$HUTCH_TEST_IMAGES`, else `../shared/images` beside the
/// checkout. `tests/run` generates stand-ins when neither exists.
pub(crate) fn images_dir() -> PathBuf {
    std::env::var_os("HUTCH_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/images"))
}

/// The path of the first layer blob of the busybox (musl) layout, found via
/// index → manifest (the generated stand-in has other digests).
pub(crate) fn busybox_layer() -> PathBuf {
    let root = images_dir().join("busybox-musl");
    let blob = |digest: &str| root.join("blobs/sha256").join(&digest[7..]);
    let json = |p: PathBuf| -> serde_json::Value {
        let bytes = std::fs::read(&p).unwrap_or_else(|e| {
            panic!(
                "test image {}: {e}; tests/run generates the images",
                p.display()
            )
        });
        serde_json::from_slice(&bytes).unwrap()
    };
    let index = json(root.join("index.json"));
    let manifest = json(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    blob(manifest["layers"][0]["digest"].as_str().unwrap())
}

/// A test that cannot run here fails saying why, unless the person running
/// the tests set `HUTCH_TEST_ALLOW_SKIP=1`; then it prints why and the caller
/// returns.
pub(crate) fn skip(why: &str) {
    let allowed = std::env::var("HUTCH_TEST_ALLOW_SKIP").as_deref() == Ok("1")
        && std::env::var("HUTCH_TEST_MUST_WORK").as_deref() != Ok("1");
    if !allowed {
        panic!("test cannot run here: {why} (HUTCH_TEST_ALLOW_SKIP=1 skips it)");
    }
    eprintln!("SKIP: {why}");
}
