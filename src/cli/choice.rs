//! Flags whose values are the names of a library enum: clap offers and
//! checks the names (and lists them in --help and the man pages), the
//! enum's own `FromStr` makes the value. The library enums know nothing of
//! clap.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use std::str::FromStr;

/// A value parser accepting `names`; `help`, when not empty, describes each
/// name in the same order.
pub fn choice<T>(
    names: &'static [&'static str],
    help: &'static [&'static str],
) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    let values = names.iter().enumerate().map(|(i, n)| match help.get(i) {
        Some(h) => PossibleValue::new(*n).help(*h),
        None => PossibleValue::new(*n),
    });
    PossibleValuesParser::new(values).try_map(|s: String| s.parse::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::pull::PullPolicy;
    use crate::registry::push::{Compression, Format as PushFormat};
    use crate::snapshot::save::Format as SaveFormat;
    use std::fmt::Display;

    fn round_trips<T: FromStr<Err = String> + Display + std::fmt::Debug>(names: &[&str]) {
        for n in names {
            assert_eq!(n.parse::<T>().unwrap().to_string(), *n);
        }
        assert!("nonsense".parse::<T>().unwrap_err().contains("nonsense"));
    }

    #[test]
    fn library_enums_parse_and_print_their_flag_names() {
        round_trips::<PullPolicy>(PullPolicy::NAMES);
        round_trips::<PushFormat>(PushFormat::NAMES);
        round_trips::<Compression>(Compression::NAMES);
        round_trips::<SaveFormat>(SaveFormat::NAMES);
    }

    #[test]
    fn the_parser_takes_only_the_names() {
        let cmd = clap::Command::new("t").arg(
            clap::Arg::new("pull")
                .long("pull")
                .value_parser(choice::<PullPolicy>(PullPolicy::NAMES, &[])),
        );
        let m = cmd
            .clone()
            .try_get_matches_from(["t", "--pull", "never"])
            .unwrap();
        assert_eq!(m.get_one::<PullPolicy>("pull"), Some(&PullPolicy::Never));
        assert!(cmd
            .try_get_matches_from(["t", "--pull", "sometimes"])
            .is_err());
    }
}
