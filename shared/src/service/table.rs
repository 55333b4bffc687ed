//! How the admin commands ([`crate::service::admin`]) show what they find: a readable table by default, JSON with
//! `--json` (an array for a list, an object for one record). Each record is a list of named
//! values, in the order the table shows them.

use serde_json::{Map, Value};

/// One row: column names and values, in display order.
pub type Record = Vec<(&'static str, Value)>;

/// Prints `records` as a table (or a JSON array).
pub fn print_list(records: &[Record], json: bool) {
    println!("{}", render_list(records, json));
}

/// Prints one record as `name: value` lines (or a JSON object).
pub fn print_one(record: &Record, json: bool) {
    println!("{}", render_one(record, json));
}

pub fn render_list(records: &[Record], json: bool) -> String {
    if json {
        return Value::Array(records.iter().map(to_object).collect()).to_string();
    }
    let Some(first) = records.first() else {
        return "(none)".to_owned();
    };
    let headers: Vec<&str> = first.iter().map(|(name, _)| *name).collect();
    let cells: Vec<Vec<String>> = records
        .iter()
        .map(|record| record.iter().map(|(_, value)| cell(value)).collect())
        .collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, header)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| {
        row.iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let headers: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    let mut out = vec![line(&headers)];
    out.extend(cells.iter().map(|row| line(row)));
    out.join("\n")
}

pub fn render_one(record: &Record, json: bool) -> String {
    if json {
        return to_object(record).to_string();
    }
    let width = record.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    record
        .iter()
        .map(|(name, value)| format!("{:<width$}  {}", format!("{name}:"), cell(value)))
        .map(|line| line.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn to_object(record: &Record) -> Value {
    Value::Object(
        record
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect::<Map<_, _>>(),
    )
}

/// A value as a table shows it: text without quotes, nothing for null, control characters
/// (a hostile username) escaped so they cannot redraw the operator's terminal.
fn cell(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn records() -> Vec<Record> {
        vec![
            vec![
                ("id", json!(1)),
                ("username", json!("admin")),
                ("active", json!(true)),
            ],
            vec![
                ("id", json!(12)),
                ("username", json!("a\u{1b}[2J")),
                ("active", json!(false)),
            ],
        ]
    }

    #[test]
    fn a_list_is_an_aligned_table_or_a_json_array() {
        let table = render_list(&records(), false);
        assert_eq!(
            table,
            "ID  USERNAME    ACTIVE\n1   admin       true\n12  a\\u{1b}[2J  false"
        );
        let json: Value = serde_json::from_str(&render_list(&records(), true)).expect("JSON");
        assert_eq!(json[1]["username"], "a\u{1b}[2J");
        assert_eq!(json[0]["active"], true);
        assert_eq!(render_list(&[], false), "(none)");
        assert_eq!(render_list(&[], true), "[]");
    }

    #[test]
    fn one_record_is_name_value_lines_or_a_json_object() {
        let record = records().remove(0);
        assert_eq!(
            render_one(&record, false),
            "id:       1\nusername:  admin\nactive:   true"
        );
        let json: Value = serde_json::from_str(&render_one(&record, true)).expect("JSON");
        assert_eq!(json["id"], 1);
    }
}
