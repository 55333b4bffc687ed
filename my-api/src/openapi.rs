//! My API's OpenAPI 3.1 document, served at `/openapi.json`. Each operation is described
//! beside its handler; this module gathers them and adds what an attribute cannot say: one
//! register-by-token and one link-by-token path per backend (the code backends of
//! [`Backends::standard`] and the OpenID Connect backends of the backends file, so it is
//! rendered at start-up), the exchange grants on
//! `/o/token/`, the error answers every resource operation shares, and the schemas of pages
//! and PATCH bodies, which are derived from other schemas.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use shared::oauth2::error::OAuth2ErrorBody;
use shared::oauth2::form::{TokenRequest, b64token, text};
use shared::service::openapi::Detail;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Content, Ref, RefOr, Required, Response, ResponseBuilder, Schema};
use utoipa::{IntoResponses, OpenApi, PartialSchema, ToSchema};

use crate::api::{concepts, items, me, users};
use crate::exchange::{link, register};
use crate::social::Backends;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "My API",
        description = "An OAuth2 provider for its own users that also accepts Fake Social Site \
                       users (token exchange), with a small resource API."
    ),
    paths(
        crate::api::root,
        users::list,
        users::retrieve,
        me::me,
        me::unlink_identity,
        items::list,
        items::create,
        items::retrieve,
        items::update,
        items::partial_update,
        items::destroy,
        concepts::list,
        concepts::create,
        concepts::retrieve,
        concepts::update,
        concepts::partial_update,
        concepts::destroy,
        crate::page::index,
        crate::page::app_js,
        crate::page::style_css,
        shared::oauth2::jwks::jwks
    ),
    components(schemas(FieldErrors))
)]
struct ResourceApi;

/// Only the register route's template: [`document`] turns it into one path per backend.
#[derive(OpenApi)]
#[openapi(paths(register::register_by_token))]
struct RegisterApi;

/// Only the link route's template: [`document`] turns it into one path per backend.
#[derive(OpenApi)]
#[openapi(paths(link::link_by_token))]
struct LinkApi;

/// The document as served, rendered once at start-up for the backends My API has.
#[derive(Debug, Clone)]
pub struct Served(Arc<str>);

impl Served {
    pub fn render(backends: &Backends) -> Served {
        let json = document_for(backends)
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        Served(json.into())
    }
}

/// `GET /openapi.json`; the [`Served`] document is app data (see `startup`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").route(web::get().to(openapi_json)));
}

async fn openapi_json(document: web::Data<Served>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(document.0.to_string())
}

const EXCHANGE_GRANTS: [&str; 4] = [
    "password",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "convert_token",
];

/// Parameters only the exchange grants take: `id_token` (with `convert_token`, in place of
/// `token`) and `nonce` are for the OpenID Connect backends.
const EXCHANGE_PARAMETERS: [&str; 9] = [
    "subject_token",
    "subject_token_type",
    "subject_issuer",
    "requested_token_type",
    "backend",
    "token",
    "id_token",
    "nonce",
    "actor_token",
];

/// The document for the code backends alone.
pub fn document() -> utoipa::openapi::OpenApi {
    document_for(&Backends::standard())
}

/// The document for `backends`: one register and one link path each.
pub fn document_for(backends: &Backends) -> utoipa::openapi::OpenApi {
    let mut doc = shared::service::openapi::with_provider(ResourceApi::openapi());
    let template =
        |api: utoipa::openapi::OpenApi| api.paths.paths.into_values().next().unwrap_or_default();
    let (register, link) = (
        template(RegisterApi::openapi()),
        template(LinkApi::openapi()),
    );
    let code = backends.iter().map(|backend| {
        let required =
            std::iter::once("access_token").chain(backend.required_parameters().iter().copied());
        let params = Parameters {
            required: required.collect(),
            optional: vec![],
        };
        (backend.name(), params, None)
    });
    let oidc = backends.oidc_backends().map(|backend| {
        let params = Parameters {
            required: vec!["id_token"],
            optional: vec!["access_token", "nonce"],
        };
        let summary = format!(
            "Exchange an ID token of {} for a My API token (verified offline); an access token \
             sent beside must match its at_hash, and a nonce sent must be its nonce",
            backend.config().issuer
        );
        (backend.name(), params, Some(summary))
    });
    for (name, params, summary) in code.chain(oidc) {
        let mut item = register_path(&register, name, &params);
        if let (Some(summary), Some(post)) = (summary, item.post.as_mut()) {
            post.summary = Some(summary);
        }
        doc.paths
            .paths
            .insert(format!("/users/register-by-token/{name}/"), item);
        doc.paths.paths.insert(
            format!("/users/link-by-token/{name}/"),
            link_path(&link, name, &params),
        );
    }
    exchange_grants(&mut doc);
    doc
}

/// What a register or link path asks for.
struct Parameters {
    required: Vec<&'static str>,
    optional: Vec<&'static str>,
}

impl Parameters {
    /// Each name and whether it is required, the required ones first.
    fn names(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        let required = self.required.iter().map(|name| (*name, true));
        required.chain(self.optional.iter().map(|name| (*name, false)))
    }

    /// The schema of one parameter: tokens are RFC 6750 `b64token`s.
    fn schema(name: &str) -> ObjectBuilder {
        if matches!(name, "access_token" | "id_token") {
            b64token()
        } else {
            text()
        }
    }

    /// The form body that carries them (POST).
    fn form_body(&self) -> utoipa::openapi::request_body::RequestBody {
        let body = self.names().fold(
            ObjectBuilder::new().schema_type(Type::Object),
            |body, (name, required)| {
                let body = body.property(name, Self::schema(name));
                if required { body.required(name) } else { body }
            },
        );
        RequestBodyBuilder::new()
            .content(
                "application/x-www-form-urlencoded",
                Content::new(Some(body)),
            )
            .required(Some(Required::True))
            .build()
    }
}

/// The register route for one backend: its name in the path and operation ids, and the
/// parameters it takes, in the form body (POST) or the query string (GET).
fn register_path(
    template: &utoipa::openapi::PathItem,
    backend: &str,
    params: &Parameters,
) -> utoipa::openapi::PathItem {
    let mut item = template.clone();
    if let Some(post) = item.post.as_mut() {
        post.operation_id = Some(format!("register_by_token_{backend}_post"));
        post.summary = Some("Exchange a Fake Social Site access token for a My API token".into());
        post.request_body = Some(params.form_body());
    }
    if let Some(get) = item.get.as_mut() {
        get.operation_id = Some(format!("register_by_token_{backend}_get"));
        get.summary = Some(
            "The same with the token in the query string (the original's form; prefer POST)".into(),
        );
        get.parameters = Some(
            params
                .names()
                .map(|(name, required)| {
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Query)
                        .required(if required {
                            Required::True
                        } else {
                            Required::False
                        })
                        .schema(Some(Parameters::schema(name)))
                        .build()
                })
                .collect(),
        );
    }
    item
}

/// The link route for one backend: its name in the path and operation id, and the form
/// parameters it needs. The schemas it answers with are the resource API's.
fn link_path(
    template: &utoipa::openapi::PathItem,
    backend: &str,
    params: &Parameters,
) -> utoipa::openapi::PathItem {
    let mut item = template.clone();
    if let Some(post) = item.post.as_mut() {
        post.operation_id = Some(format!("link_by_token_{backend}"));
        post.summary = Some("Link another identity to the caller's account".into());
        post.request_body = Some(params.form_body());
    }
    item
}

/// `/o/token/` also takes RFC 8693 token exchange and `convert_token`.
fn exchange_grants(doc: &mut utoipa::openapi::OpenApi) {
    if let Some(components) = doc.components.as_mut() {
        components.schemas.insert(
            TokenRequest::name().into_owned(),
            TokenRequest::schema_for(&EXCHANGE_GRANTS, &EXCHANGE_PARAMETERS).into(),
        );
    }
    let Some(token) = doc
        .paths
        .paths
        .get_mut("/o/token/")
        .and_then(|item| item.post.as_mut())
    else {
        return;
    };
    token.description = Some(
        "Also RFC 8693 token exchange and convert_token: a social provider's token for a My API \
         token. The code backends take an access token (subject_token_type access_token, or \
         convert_token's token); the OpenID Connect backends of the backends file take an ID \
         token (subject_token_type urn:ietf:params:oauth:token-type:id_token, or \
         convert_token's id_token), and a nonce parameter, when sent, must be the token's. A \
         provider fault is a 502, 503 or 504."
            .into(),
    );
    let error = |description: &str| -> RefOr<Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name(OAuth2ErrorBody::name()))),
            )
            .build()
            .into()
    };
    let responses = &mut token.responses.responses;
    responses.insert(
        "502".into(),
        error("The social provider gave an unusable answer."),
    );
    responses.insert(
        "504".into(),
        error("The social provider did not answer in time."),
    );
}

/// `{"field": ["message", ...]}`: DRF's answer to invalid fields.
#[derive(Debug)]
pub struct FieldErrors;

impl ToSchema for FieldErrors {}

impl PartialSchema for FieldErrors {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(
                ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)),
            ))
            .into()
    }
}

/// An answer with a [`Detail`] body.
fn detail(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(Detail::name()))),
        )
        .build()
        .into()
}

/// The errors any resource operation can answer: invalid fields or a malformed request, no
/// token or a bad one, a missing scope or permission, a body past the limit, the database
/// unavailable.
#[derive(Debug)]
pub struct ApiErrors;

impl IntoResponses for ApiErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let invalid = ResponseBuilder::new()
            .description("Invalid fields (`{\"name\": [\"...\"]}`) or a malformed request.")
            .content(
                "application/json",
                Content::new(Some(
                    AnyOfBuilder::new()
                        .item(Ref::from_schema_name(Detail::name()))
                        .item(Ref::from_schema_name(FieldErrors::name())),
                )),
            )
            .build()
            .into();
        BTreeMap::from([
            ("400".into(), invalid),
            (
                "401".into(),
                detail("No token, or one that is invalid, expired or revoked."),
            ),
            (
                "403".into(),
                detail(
                    "The token lacks the scope, the caller does not own the item, or already \
                     owns the most items allowed (`MAX_ITEMS_PER_USER`).",
                ),
            ),
            ("413".into(), detail("The body is too large.")),
            (
                "503".into(),
                detail("The database is unavailable; retry later."),
            ),
        ])
    }
}

/// The answer to an id that names nothing (or, for users, no active user).
#[derive(Debug)]
pub struct NoSuchId;

impl IntoResponses for NoSuchId {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([("404".into(), detail("No such id."))])
    }
}

/// [`ApiErrors`] and the answer to a body that is not JSON.
#[derive(Debug)]
pub struct ApiWriteErrors;

impl IntoResponses for ApiWriteErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = ApiErrors::responses();
        responses.insert("415".into(), detail("The body is not JSON."));
        responses
    }
}

/// A page of `T`s: DRF's `{"count", "next", "previous", "results"}` (see `api::pagination`),
/// named as drf-spectacular names it.
#[derive(Debug)]
pub struct Paginated<T>(PhantomData<T>);

impl<T: ToSchema> ToSchema for Paginated<T> {
    fn name() -> Cow<'static, str> {
        format!("Paginated{}List", T::name()).into()
    }
}

impl<T: ToSchema> PartialSchema for Paginated<T> {
    fn schema() -> RefOr<Schema> {
        let link = |description: &str| {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some(description))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "count",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .description(Some("Objects in the whole list.")),
            )
            .property("next", link("The next page; null on the last."))
            .property("previous", link("The previous page; null on the first."))
            .property(
                "results",
                ArrayBuilder::new().items(Ref::from_schema_name(T::name())),
            )
            .required("count")
            .required("next")
            .required("previous")
            .required("results")
            .into()
    }
}

// The attributes name these, not `Paginated<T>` or `Patch<T>`: a generic type there would
// need utoipa's derive-only composition.
pub type PaginatedItemOutList = Paginated<crate::api::items::ItemOut>;
pub type PaginatedConceptOutList = Paginated<crate::api::concepts::ConceptOut>;
pub type PaginatedUserOutList = Paginated<crate::api::users::UserOut>;
pub type ItemInputPatch = Patch<crate::api::items::ItemInput>;
pub type ConceptInputPatch = Patch<crate::api::concepts::ConceptInput>;

/// A PATCH body: the same fields as `T`, none of them required (absent means unchanged).
#[derive(Debug)]
pub struct Patch<T>(PhantomData<T>);

impl<T: ToSchema> ToSchema for Patch<T> {
    fn name() -> Cow<'static, str> {
        format!("{}Patch", T::name()).into()
    }
}

impl<T: ToSchema> PartialSchema for Patch<T> {
    fn schema() -> RefOr<Schema> {
        let mut schema = T::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.required.clear();
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    /// The document as served, read back as JSON.
    fn document() -> serde_json::Value {
        let json = super::document().to_json().expect("serialise");
        serde_json::from_str(&json).expect("JSON")
    }

    #[test]
    fn the_document_is_openapi_3_1_and_names_every_route() {
        let json = super::document().to_json().expect("serialise");
        assert!(json.starts_with(r#"{"openapi":"3.1.0""#), "{json}");
        for path in [
            "/o/token/",
            "/api/items/{id}/",
            "/users/register-by-token/fake_social_site/",
        ] {
            assert!(json.contains(&format!("\"{path}\"")), "{path}");
        }
    }

    #[test]
    fn every_list_is_described_as_a_page_with_page_and_page_size_parameters() {
        let doc = document();
        for (path, item) in [
            ("/api/items/", "ItemOut"),
            ("/api/concepts/", "ConceptOut"),
            ("/api/users/", "UserOut"),
        ] {
            let get = &doc["paths"][path]["get"];
            let answer = &get["responses"]["200"]["content"]["application/json"]["schema"];
            let name = format!("Paginated{item}List");
            assert_eq!(
                answer["$ref"],
                format!("#/components/schemas/{name}"),
                "{path}"
            );
            let page = &doc["components"]["schemas"][&name];
            assert_eq!(
                page["required"],
                serde_json::json!(["count", "next", "previous", "results"]),
                "{name}"
            );
            assert_eq!(
                page["properties"]["results"]["items"]["$ref"],
                format!("#/components/schemas/{item}")
            );
            let parameters: Vec<(&str, &str)> = get["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .map(|p| {
                    let name = p["name"].as_str().expect("a name");
                    let kind = p["schema"]["type"].as_str().expect("a type");
                    (name, kind)
                })
                .collect();
            assert_eq!(
                parameters,
                [("page", "integer"), ("page_size", "integer")],
                "{path}"
            );
            assert!(get["responses"]["404"].is_object(), "{path}");
        }
    }

    #[test]
    fn every_backend_has_a_register_path_asking_for_its_parameters() {
        let doc = document();
        for backend in crate::social::Backends::standard().iter() {
            let name = backend.name();
            let item = &doc["paths"][format!("/users/register-by-token/{name}/")];
            let wanted: Vec<&str> = std::iter::once("access_token")
                .chain(backend.required_parameters().iter().copied())
                .collect();
            let query: Vec<&str> = item["get"]["parameters"]
                .as_array()
                .expect("GET parameters")
                .iter()
                .map(|p| p["name"].as_str().expect("a name"))
                .collect();
            assert_eq!(query, wanted, "{name}");
            let form = &item["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"];
            assert_eq!(
                form["schema"]["required"],
                serde_json::json!(wanted),
                "{name}"
            );
            assert_eq!(
                item["post"]["operationId"],
                format!("register_by_token_{name}_post")
            );
            assert!(item["post"]["responses"]["504"].is_object(), "{name}");
        }
    }

    #[test]
    fn every_backend_has_a_link_path_and_the_account_routes_are_described() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for backend in crate::social::Backends::standard().iter() {
            let name = backend.name();
            let post = &doc["paths"][format!("/users/link-by-token/{name}/")]["post"];
            assert_eq!(post["operationId"], format!("link_by_token_{name}"));
            let wanted: Vec<&str> = std::iter::once("access_token")
                .chain(backend.required_parameters().iter().copied())
                .collect();
            let form = &post["requestBody"]["content"]["application/x-www-form-urlencoded"];
            assert_eq!(
                form["schema"]["required"],
                serde_json::json!(wanted),
                "{name}"
            );
            let answer = &post["responses"]["200"]["content"]["application/json"]["schema"];
            assert_eq!(answer["$ref"], "#/components/schemas/MeOut", "{name}");
            for status in ["401", "404", "409", "503"] {
                assert!(post["responses"][status].is_object(), "{name} {status}");
            }
        }
        assert!(
            doc["paths"]
                .get("/users/link-by-token/{backend}/")
                .is_none()
        );
        let me = &doc["paths"]["/api/me/"]["get"]["responses"]["200"];
        assert_eq!(
            me["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/MeOut"
        );
        assert!(schemas["MeOut"]["properties"]["identities"].is_object());
        assert!(schemas["IdentityOut"]["properties"]["created"].is_object());
        let unlink = &doc["paths"]["/api/me/identities/{backend}/"]["delete"]["responses"];
        for status in ["204", "404", "409", "401"] {
            assert!(unlink[status].is_object(), "{status}");
        }
    }

    #[test]
    fn a_configured_oidc_backend_has_a_register_path_asking_for_an_id_token() {
        let config = crate::social::oidc::config::parse(
            "[[backend]]\nname = \"google\"\nissuer = \"https://accounts.google.com\"\n\
             client_ids = [\"x\"]\nalgorithms = [\"RS256\"]\n",
            &[],
        )
        .expect("a valid file");
        let backends = crate::social::Backends::standard().with_oidc(
            config
                .into_iter()
                .map(crate::social::OidcBackend::new)
                .collect(),
        );
        let doc = serde_json::to_value(super::document_for(&backends)).expect("JSON");
        let item = &doc["paths"]["/users/register-by-token/google/"];
        let form = &item["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"];
        assert_eq!(form["schema"]["required"], serde_json::json!(["id_token"]));
        for name in ["access_token", "nonce"] {
            assert!(form["schema"]["properties"][name].is_object(), "{name}");
        }
        let query: Vec<(&str, bool)> = item["get"]["parameters"]
            .as_array()
            .expect("GET parameters")
            .iter()
            .map(|p| (p["name"].as_str().expect("a name"), p["required"] == true))
            .collect();
        assert_eq!(
            query,
            [
                ("id_token", true),
                ("access_token", false),
                ("nonce", false)
            ]
        );
        assert!(doc["paths"]["/users/register-by-token/fake_social_site/"].is_object());
        let token = &doc["components"]["schemas"]["TokenRequest"]["properties"];
        assert!(
            token["id_token"].is_object() && token["nonce"].is_object(),
            "{token}"
        );
    }

    #[test]
    fn names_follow_the_servers_rule_and_a_patch_requires_nothing() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for kind in ["Item", "Concept"] {
            let input = &schemas[format!("{kind}Input")];
            assert_eq!(input["required"], serde_json::json!(["name"]), "{kind}");
            assert_eq!(
                input["properties"]["name"]["pattern"],
                crate::api::error::NAME_PATTERN,
                "{kind}"
            );
            let patch = &schemas[format!("{kind}InputPatch")];
            assert!(patch.get("required").is_none(), "{kind}: {patch}");
            assert_eq!(patch["properties"], input["properties"], "{kind}");
            let path = format!("/api/{}s/{{id}}/", kind.to_lowercase());
            let body = |method: &str| {
                doc["paths"][&path][method]["requestBody"]["content"]["application/json"]["schema"]
                    ["$ref"]
                    .clone()
            };
            assert_eq!(body("put"), format!("#/components/schemas/{kind}Input"));
            assert_eq!(
                body("patch"),
                format!("#/components/schemas/{kind}InputPatch")
            );
        }
    }
}
