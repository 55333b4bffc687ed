//! Command lines: checks that the services' flags refuse what is out of range.

/// Parses `<flag>=<value>` for each case with `parse` and asserts that every one is refused
/// with a message naming its flag.
pub fn assert_refused_naming_the_flag<E: ToString>(
    cases: &[(&str, &str)],
    parse: impl Fn(&str) -> Result<(), E>,
) {
    let mut accepted = Vec::new();
    for (flag, value) in cases {
        let arg = format!("{flag}={value}");
        match parse(&arg) {
            Ok(()) => accepted.push(arg),
            Err(e) => {
                let message = e.to_string();
                assert!(message.contains(flag), "{arg}: {message}");
            }
        }
    }
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}
