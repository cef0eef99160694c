//! Sizes as people read them, the way Docker and Podman print them: shared
//! by the listings (`images`, `ps`, `history`) and `commit`'s report.

/// go-units `HumanSizeWithPrecision(size, 3)`, as Podman prints sizes.
pub(crate) fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    // Three significant digits, trailing zeros dropped (Go's %.3g).
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s} {}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_podman() {
        assert_eq!(human_size(886160), "886 kB");
        assert_eq!(human_size(886622), "887 kB");
        assert_eq!(human_size(1_800_000), "1.8 MB");
        assert_eq!(human_size(4_261_234), "4.26 MB");
        assert_eq!(human_size(12), "12 B");
    }
}
