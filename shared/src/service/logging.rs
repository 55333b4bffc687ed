//! Log output of the binaries: `RUST_LOG` (default `info`) chooses what is logged,
//! `LOG_FORMAT` how. `human` (the default) is one readable line per record; `json` is one JSON
//! object per line with `time`, `level`, `target`, `message`, `request_id` and the record's
//! fields (an access line's `route`, `status` and `latency_ms`). Both render the same message:
//! what must never be logged (tokens, secrets, passwords) is kept out of the messages
//! themselves.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Installs the logger (once; later calls do nothing).
pub fn init(format: LogFormat) {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(move |buf, record| {
            use std::io::Write as _;
            let time = rfc3339(SystemTime::now());
            let line = match format {
                LogFormat::Human => human_line(record, &time),
                LogFormat::Json => json_line(record, &time),
            };
            writeln!(buf, "{line}")
        })
        .try_init();
}

/// `[time LEVEL target req=ID] message key=value...`.
pub fn human_line(record: &log::Record<'_>, time: &str) -> String {
    let mut line = format!("[{time} {:<5} {}", record.level(), record.target());
    if let Some(id) = crate::telemetry::request_id() {
        let _ = write!(line, " req={id}");
    }
    let _ = write!(line, "] {}", record.args());
    line
}

/// One JSON object, no newline.
pub fn json_line(record: &log::Record<'_>, time: &str) -> String {
    let mut object = Map::new();
    object.insert("time".into(), time.into());
    object.insert("level".into(), record.level().as_str().into());
    object.insert("target".into(), record.target().into());
    object.insert("message".into(), record.args().to_string().into());
    object.insert(
        "request_id".into(),
        crate::telemetry::request_id().map_or(Value::Null, |id| Value::from(&*id)),
    );
    let mut fields = Fields(&mut object);
    let _ = record.key_values().visit(&mut fields);
    Value::Object(object).to_string()
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let value = if let Some(n) = value.to_u64() {
            Value::from(n)
        } else if let Some(n) = value.to_i64() {
            Value::from(n)
        } else if let Some(x) = value.to_f64() {
            // Milliseconds to the microsecond are precise enough.
            Value::from((x * 1_000.0).round() / 1_000.0)
        } else {
            Value::from(value.to_string())
        };
        self.0.insert(key.as_str().to_owned(), value);
        Ok(())
    }
}

/// `2026-01-02T03:04:05.678Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    let (year, month, day) = crate::clock::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[actix_rt::test]
    async fn both_formats_name_the_request_being_served() {
        let id: std::sync::Arc<str> = std::sync::Arc::from("req-42");
        let (human, json) = crate::telemetry::with_request_id(id, async {
            let record = log::Record::builder()
                .args(format_args!("hello"))
                .level(log::Level::Warn)
                .target("shared::x")
                .build();
            (human_line(&record, "T"), json_line(&record, "T"))
        })
        .await;
        assert_eq!(human, "[T WARN  shared::x req=req-42] hello");
        let value: Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(value["request_id"], "req-42");
        assert_eq!(value["time"], "T");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.123Z");
    }

    #[test]
    fn a_json_line_is_one_object_with_the_record_and_its_fields() {
        let status = 200_u16;
        let args = format_args!("a \"quoted\"\nmessage");
        let kvs: &[(&str, log::kv::Value<'_>)] = &[
            ("status", log::kv::Value::from(status)),
            ("route", log::kv::Value::from("/o/token/")),
            ("latency_ms", log::kv::Value::from(1.25_f64)),
        ];
        let record = log::Record::builder()
            .args(args)
            .level(log::Level::Info)
            .target("access")
            .key_values(&kvs)
            .build();
        let line = json_line(&record, "t");
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["message"], "a \"quoted\"\nmessage");
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["target"], "access");
        assert_eq!(value["status"], 200);
        assert_eq!(value["route"], "/o/token/");
        assert_eq!(value["latency_ms"], 1.25);
        assert_eq!(value["request_id"], Value::Null);
    }
}
