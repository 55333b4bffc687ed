//! The `url` of every object and the `Location` of a created one are built from the
//! configured public URL, whatever host the request claims (`Host`, `X-Forwarded-Host`,
//! `Forwarded`): a client must not be able to point another's links at its own site.

use reqwest::header::LOCATION;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::helpers::*;

const PUBLIC_URL: &str = "https://api.example.com";

const SPOOFS: [(&str, &str); 4] = [
    ("x-forwarded-host", "evil.example"),
    ("forwarded", "host=evil.example;proto=http"),
    ("host", "evil.example"),
    ("x-forwarded-proto", "gopher"),
];

/// Every string under a `url`-like key, anywhere in the body.
fn urls(body: &Value, out: &mut Vec<String>) {
    match body {
        Value::Object(map) => {
            for (key, value) in map {
                if let Value::String(s) = value
                    && s.contains("://")
                {
                    out.push(format!("{key}={s}"));
                }
                urls(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| urls(v, out)),
        _ => {}
    }
}

fn assert_public(body: &Value, what: &str) {
    let mut found = Vec::new();
    urls(body, &mut found);
    assert!(!found.is_empty(), "{what}: no URL in {body}");
    for url in found {
        let (_, value) = url.split_once('=').expect("key=value");
        assert!(
            value.starts_with(&format!("{PUBLIC_URL}/api/")),
            "{what}: {url} is not on {PUBLIC_URL}"
        );
    }
}

fn spoofed(request: RequestBuilder, (name, value): (&str, &str)) -> RequestBuilder {
    request.header(name, value)
}

#[actix_rt::test]
async fn urls_and_locations_use_the_public_url_whatever_host_the_request_claims() {
    let app = spawn_app_configured(|s| s.provider.public_url = Some(PUBLIC_URL.to_owned())).await;
    let token = app.local_token("admin", "admin").await;
    for spoof in SPOOFS {
        let what = format!("{}: {}", spoof.0, spoof.1);
        for path in ["/api/", "/api/items/", "/api/concepts/", "/api/users/"] {
            let response = spoofed(app.http.get(app.url(path)), spoof)
                .bearer_auth(&token)
                .send()
                .await
                .expect("GET");
            let body = json_body(response, StatusCode::OK).await;
            assert_public(&body, &format!("{what} GET {path}"));
        }
        for (path, body) in [
            ("/api/items/", serde_json::json!({ "name": "spoofed" })),
            ("/api/concepts/", serde_json::json!({ "name": "spoofed" })),
        ] {
            let response = spoofed(app.http.request(Method::POST, app.url(path)), spoof)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("POST");
            let location = header(&response, LOCATION);
            assert!(
                location.starts_with(&format!("{PUBLIC_URL}{path}")),
                "{what} POST {path}: Location {location}"
            );
            let created = json_body(response, StatusCode::CREATED).await;
            assert_public(&created, &format!("{what} POST {path}"));
        }
    }
}
