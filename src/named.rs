//! Enums whose variants are words on the command line or in files (a pull
//! policy, a manifest format): one macro gives them the list of names,
//! `Display` and `FromStr`, so library enums need no clap derive and every
//! such enum says the same kind of thing about a wrong word.

/// `named!(Type, "what it is", { Variant => "name", ... })`: `Type::NAMES`
/// in the order written, `Display` printing the name, and `FromStr` whose
/// error names the wrong word and the accepted ones.
macro_rules! named {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The names [`std::str::FromStr`] accepts, in the order to offer them.
            pub const NAMES: &'static [&'static str] = &[$($name),+];
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($ty::$variant => $name,)+
                })
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(format!(
                        "unknown {} '{s}' (use {})",
                        $what,
                        $crate::named::one_of($ty::NAMES)
                    )),
                }
            }
        }
    };
}

pub(crate) use named;

/// `a, b or c`.
pub fn one_of(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_read_as_a_sentence() {
        assert_eq!(super::one_of(&["a"]), "a");
        assert_eq!(super::one_of(&["a", "b", "c"]), "a, b or c");
    }
}
