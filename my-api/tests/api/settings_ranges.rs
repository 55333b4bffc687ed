//! My API's own numeric settings are range-checked too, with a message naming the flag.

use clap::Parser;
use my_api::cli::Cli;

#[test]
fn every_numeric_setting_out_of_range_is_refused_with_a_message_naming_the_flag() {
    let cases = [
        ("--social-connect-timeout-ms", "0"),
        ("--social-connect-timeout-ms", "60001"),
        ("--social-timeout-ms", "0"),
        ("--social-timeout-ms", "300001"),
        ("--social-max-response-bytes", "0"),
        ("--social-max-response-bytes", "16777217"),
        ("--access-token-expire-seconds", "9223372036854775807"),
        ("--workers", "0"),
    ];
    test_support::cli::assert_refused_naming_the_flag(&cases, |arg| {
        Cli::try_parse_from(["my-api", "serve", arg]).map(drop)
    });
}
