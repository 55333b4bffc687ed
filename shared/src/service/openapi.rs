//! The OpenAPI 3.1 parts both services share: the `/o/` endpoints, `/healthz`, the metadata
//! and `/openapi.json` itself, the error bodies and security schemes, and small builders each
//! service's own `openapi` module uses for its routes. Schemas come from the types the
//! handlers serialise (`#[derive(ToSchema)]`) where there is one.

use actix_web::HttpResponse;
use actix_web::http::header;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement,
    SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, Content, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    Paths, PathsBuilder, Ref, RefOr, Required, ResponseBuilder, Schema,
};

use crate::profile::Profile;
use crate::storage::tokens::Introspection;

pub const FORM: &str = "application/x-www-form-urlencoded";
pub const JSON: &str = "application/json";

/// RFC 6749 §5.2 error body, as every `/o/` endpoint and the exchange answer it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuth2ErrorBody {
    /// An RFC 6749, 7009, 8693 code, or one of the exchange's `social_provider_*` codes.
    pub error: String,
    pub error_description: String,
}

/// DRF-style error body of the resource endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detail {
    pub detail: String,
}

/// `/healthz`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// `ok`, or why the database cannot serve.
    pub database: String,
}

/// RFC 7662 answer for a token that is unknown, expired or revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct InactiveToken {
    pub active: bool,
}

/// RFC 8414 authorization server metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub grant_types_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
}

/// RFC 7009 / RFC 7662 form: the token, an optional hint, and the client's credentials (in
/// the body or as HTTP Basic).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenForm {
    #[schema(min_length = 1)]
    pub token: String,
    #[schema(min_length = 1)]
    pub token_type_hint: Option<String>,
    #[schema(min_length = 1)]
    pub client_id: Option<String>,
    #[schema(min_length = 1)]
    pub client_secret: Option<String>,
}

/// Parameters that carry an access token another server issued (RFC 6750 §2.1 `b64token`).
const B64TOKENS: [&str; 3] = ["subject_token", "token", "access_token"];

/// An RFC 6750 `b64token`: the only form a bearer access token takes.
pub fn b64token() -> ObjectBuilder {
    text().pattern(Some(r"^[A-Za-z0-9._~+/-]+=*$"))
}

/// A `$ref` to a component schema.
pub fn schema(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

/// A non-empty string property (the form parser refuses empty parameters).
pub fn text() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
}

/// A 200-or-other answer with a JSON body of component `name`.
pub fn json_response(description: &str, name: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content(JSON, Content::new(Some(schema(name))))
}

/// An error answer with an OAuth2 error body.
pub fn oauth2_error(description: &str) -> ResponseBuilder {
    json_response(description, "OAuth2ErrorBody")
}

/// An error answer with a `{"detail"}` body.
pub fn detail_error(description: &str) -> ResponseBuilder {
    json_response(description, "Detail")
}

/// Adds the errors that any route can give whatever its handler does: a body past the
/// limit, a request the server cannot parse, the database unavailable.
pub fn with_common_errors(op: OperationBuilder, oauth2: bool) -> OperationBuilder {
    let error = |d: &str| {
        if oauth2 {
            oauth2_error(d)
        } else {
            detail_error(d)
        }
    };
    op.response("413", error("The body is too large."))
        .response("503", error("The database is unavailable; retry later."))
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, as token answers carry them.
pub fn no_store(response: ResponseBuilder) -> ResponseBuilder {
    response
        .header(
            "Cache-Control",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .build(),
        )
        .header(
            "Pragma",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .build(),
        )
}

/// A form request body of component `name`.
pub fn form_body(name: &str) -> Option<utoipa::openapi::request_body::RequestBody> {
    Some(
        RequestBodyBuilder::new()
            .content(FORM, Content::new(Some(schema(name))))
            .required(Some(Required::True))
            .build(),
    )
}

/// A JSON request body of component `name`.
pub fn json_body(name: &str) -> Option<utoipa::openapi::request_body::RequestBody> {
    Some(
        RequestBodyBuilder::new()
            .content(JSON, Content::new(Some(schema(name))))
            .required(Some(Required::True))
            .build(),
    )
}

/// A required path parameter: a 64-bit integer id or a string.
pub fn path_param(name: &str, integer: bool) -> utoipa::openapi::path::Parameter {
    let schema = if integer {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
    } else {
        text()
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(schema))
        .build()
}

/// A Bearer access token is required.
pub fn bearer() -> SecurityRequirement {
    SecurityRequirement::new("bearer", Vec::<String>::new())
}

/// An operation; `operation_id` doubles as its summary's key.
pub fn operation(id: &str, tag: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .tag(tag)
        .summary(Some(summary))
}

/// The `/o/token/` form: every parameter any grant takes; which are needed depends on
/// `grant_type` (RFC 6749 §4.3, §6; RFC 8693; drf-social-oauth2's `convert_token`).
fn token_request(grant_types: &[&str], extra: &[&str]) -> Schema {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "grant_type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(grant_types.iter().copied())),
        )
        .required("grant_type");
    let common = [
        "username",
        "password",
        "refresh_token",
        "scope",
        "client_id",
        "client_secret",
    ];
    for name in common.iter().chain(extra) {
        let property = if B64TOKENS.contains(name) {
            b64token()
        } else {
            text()
        };
        object = object.property(*name, property);
    }
    object.into()
}

fn token_operation(exchange: bool) -> Operation {
    let op = operation(
        "token",
        "oauth2",
        "Issue tokens: password and refresh_token grants (RFC 6749)",
    )
    .request_body(form_body("TokenRequest"))
    .response(
        "200",
        no_store(json_response("The issued tokens.", "TokenResponse")),
    )
    .response(
        "400",
        no_store(oauth2_error(
            "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type or \
             invalid_scope.",
        )),
    )
    .response(
        "401",
        no_store(oauth2_error(
            "invalid_client: client authentication failed.",
        )),
    )
    .response(
        "415",
        oauth2_error("The body is not application/x-www-form-urlencoded."),
    )
    .response(
        "429",
        no_store(oauth2_error(
            "Too many failed logins; retry after Retry-After.",
        )),
    );
    let op = if exchange {
        op.description(Some(
            "Also RFC 8693 token exchange and convert_token: a Fake Social Site access token \
             for a My API token. A provider fault is a 502, 503 or 504.",
        ))
        .response(
            "502",
            oauth2_error("The social provider gave an unusable answer."),
        )
        .response(
            "504",
            oauth2_error("The social provider did not answer in time."),
        )
    } else {
        op
    };
    with_common_errors(op, true).build()
}

fn token_form_operation(id: &str, summary: &str, ok: ResponseBuilder) -> Operation {
    let op = operation(id, "oauth2", summary)
        .request_body(form_body("TokenForm"))
        .response("200", no_store(ok))
        .response(
            "400",
            no_store(oauth2_error("invalid_request or unauthorized_client.")),
        )
        .response(
            "401",
            no_store(oauth2_error(
                "invalid_client: client authentication failed.",
            )),
        )
        .response(
            "415",
            oauth2_error("The body is not application/x-www-form-urlencoded."),
        );
    with_common_errors(op, true).build()
}

fn get_json(id: &str, tag: &str, summary: &str, ok: ResponseBuilder) -> Operation {
    operation(id, tag, summary).response("200", ok).build()
}

/// The paths of `/o/`, the metadata, `/healthz` and `/openapi.json`; `exchange` documents My
/// API's extension grants on `/o/token/`.
pub fn provider_paths(exchange: bool) -> Paths {
    let introspection = ResponseBuilder::new()
        .description("RFC 7662: the token's claims if it is active, else only `active: false`.")
        .content(
            JSON,
            Content::new(Some(
                utoipa::openapi::schema::OneOfBuilder::new()
                    .item(schema("Introspection"))
                    .item(schema("InactiveToken")),
            )),
        );
    PathsBuilder::new()
        .path(
            "/o/token/",
            PathItem::new(HttpMethod::Post, token_operation(exchange)),
        )
        .path(
            "/o/revoke_token/",
            PathItem::new(
                HttpMethod::Post,
                token_form_operation(
                    "revoke_token",
                    "Revoke an access or refresh token (RFC 7009)",
                    ResponseBuilder::new().description("Revoked, or unknown (RFC 7009 §2.2)."),
                ),
            ),
        )
        .path("/o/introspect/", {
            let mut op = token_form_operation(
                "introspect",
                "Introspect a token, for confidential clients allowed to (RFC 7662)",
                introspection,
            );
            op.responses.responses.insert(
                "403".to_owned(),
                no_store(oauth2_error(
                    "unauthorized_client: the client authenticated but may not introspect.",
                ))
                .build()
                .into(),
            );
            PathItem::new(HttpMethod::Post, op)
        })
        .path(
            "/.well-known/oauth-authorization-server",
            PathItem::new(
                HttpMethod::Get,
                get_json(
                    "metadata",
                    "oauth2",
                    "Authorization server metadata (RFC 8414)",
                    json_response("The metadata.", "Metadata"),
                ),
            ),
        )
        .path(
            "/healthz",
            PathItem::new(
                HttpMethod::Get,
                operation(
                    "healthz",
                    "operations",
                    "Whether the service and its database answer",
                )
                .response("200", json_response("Healthy.", "Health"))
                .response(
                    "503",
                    json_response(
                        "The database is locked, missing or failing; the reason is given.",
                        "Health",
                    ),
                )
                .build(),
            ),
        )
        .path(
            "/openapi.json",
            PathItem::new(
                HttpMethod::Get,
                operation("openapi", "operations", "This document")
                    .response(
                        "200",
                        ResponseBuilder::new()
                            .description("The OpenAPI 3.1 document.")
                            .content(JSON, Content::new(Some(ObjectBuilder::new()))),
                    )
                    .build(),
            ),
        )
        .build()
}

/// Schemas and security schemes both services use; `grant_types` and `extra` shape
/// `TokenRequest`.
pub fn components(grant_types: &[&str], extra: &[&str]) -> ComponentsBuilder {
    ComponentsBuilder::new()
        .schema_from::<OAuth2ErrorBody>()
        .schema_from::<Detail>()
        .schema_from::<Health>()
        .schema_from::<InactiveToken>()
        .schema_from::<Metadata>()
        .schema_from::<TokenForm>()
        .schema_from::<crate::oauth2::response::TokenResponse>()
        .schema_from::<Introspection>()
        .schema_from::<Profile>()
        .schema("TokenRequest", token_request(grant_types, extra))
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        // How a client gets the bearer token: the password grant at `/o/token/`.
        .security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/o/token/",
                Scopes::from_iter([("read", "Read"), ("write", "Write")]),
            ))])),
        )
}

/// The whole document.
pub fn document(
    title: &str,
    description: &str,
    paths: Paths,
    components: ComponentsBuilder,
) -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(description))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

/// `GET /openapi.json` for a document rendered once.
pub fn serve(json: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, JSON))
        .body(json)
}
