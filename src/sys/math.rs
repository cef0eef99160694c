//! `pow` and `log`, the only functions of the C math library that code
//! linked into hutch calls (indicatif's rate estimate, SQLite's FTS5
//! ranking), defined here from the pure-Rust `libm` crate so that the
//! linker finds them in hutch and leaves libm.so.6 out: loading and
//! relocating that library cost about 0.13 ms of CPU at every exec where
//! that was measured (bench/README.md). bench/startup.sh says so when a
//! release binary needs libm.so.6 again (a dependency that calls another
//! math function).
//!
//! Nothing else belongs here.

/// C's `pow(3)`, for the callers linked in. Unlike glibc's it never sets
/// errno, which none of them reads.
// SAFETY (no_mangle): this is C's `double pow(double, double)` under its C
// name, with its signature and calling convention; it reads no memory, so
// every caller that declares it as C does calls it soundly.
#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// C's `log(3)`, the natural logarithm, as `pow` is here.
// SAFETY (no_mangle): C's `double log(double)`, as `pow` above.
#[no_mangle]
pub extern "C" fn log(x: f64) -> f64 {
    libm::log(x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pow_and_log_agree_with_their_definitions() {
        assert_eq!(super::pow(2.0, 10.0), 1024.0);
        assert_eq!(super::pow(0.1, 0.0), 1.0);
        assert!((super::pow(0.1, 0.5) - 0.316_227_766_016_837_94).abs() < 1e-15);
        assert_eq!(super::log(1.0), 0.0);
        assert!((super::log(std::f64::consts::E) - 1.0).abs() < 1e-15);
        assert!(super::log(-1.0).is_nan());
        assert_eq!(super::log(0.0), f64::NEG_INFINITY);
    }
}
