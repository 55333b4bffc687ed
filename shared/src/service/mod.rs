//! What a running service is: the HTTP server with its middleware and JSON errors, the
//! request-body deadline, request ids and metrics, the log format, the manage.py-like commands, and the OpenAPI document's shared
//! parts. Each service builds on these with its own routes.

pub mod admin;
pub mod body_deadline;
pub mod cli;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod server;
pub mod table;
