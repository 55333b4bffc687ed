//! My API's OpenAPI 3.1 document, served at `/openapi.json`: the shared `/o/` endpoints (with
//! the exchange grants), the register-by-token route per backend, the resource API and the
//! test page.

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use shared::service::openapi::{
    self as doc, b64token, bearer, detail_error, json_body, json_response, no_store, oauth2_error,
    operation, path_param, provider_paths, schema, text, with_common_errors,
};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, OpenApi, PathItem, PathsBuilder, Required, ResponseBuilder};

use crate::api::concepts::{ConceptInput, ConceptOut};
use crate::api::items::{ItemInput, ItemOut};
use crate::api::users::UserOut;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").route(web::get().to(serve)));
}

async fn serve() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    doc::serve(JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }))
}

const EXCHANGE_GRANTS: [&str; 4] = [
    "password",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "convert_token",
];

/// Parameters only the exchange grants take.
const EXCHANGE_PARAMETERS: [&str; 7] = [
    "subject_token",
    "subject_token_type",
    "subject_issuer",
    "requested_token_type",
    "backend",
    "token",
    "actor_token",
];

/// `/users/register-by-token/<backend>/` for one backend: POST with a form body, or GET
/// with the query string as the original did.
fn register(backend: &str, needs_username: bool) -> PathItem {
    let mut body = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("access_token", b64token())
        .required("access_token");
    if needs_username {
        body = body.property("username", text()).required("username");
    }
    let answers = |op: OperationBuilder| {
        let op = op
            .response(
                "200",
                no_store(json_response(
                    "The My API tokens; the local user is created on first use.",
                    "TokenResponse",
                )),
            )
            .response(
                "400",
                oauth2_error("A missing, repeated or empty parameter, or a body that is no form."),
            )
            .response(
                "401",
                oauth2_error("unsuccessful_token_exchange: the provider refused the token."),
            )
            .response(
                "502",
                oauth2_error("social_provider_bad_response: the provider's answer is unusable."),
            )
            .response(
                "504",
                oauth2_error("social_provider_timeout: the provider did not answer in time."),
            );
        with_common_errors(op, true).build()
    };
    let id = |method: &str| format!("register_by_token_{backend}_{method}");
    let post = operation(
        &id("post"),
        "exchange",
        "Exchange a Fake Social Site access token for a My API token",
    )
    .request_body(Some(
        utoipa::openapi::request_body::RequestBodyBuilder::new()
            .content(doc::FORM, Content::new(Some(body)))
            .required(Some(Required::True))
            .build(),
    ));
    let mut get = operation(
        &id("get"),
        "exchange",
        "The same with the token in the query string (the original's form; prefer POST)",
    )
    .parameter(
        ParameterBuilder::new()
            .name("access_token")
            .parameter_in(ParameterIn::Query)
            .required(Required::True)
            .schema(Some(b64token())),
    );
    if needs_username {
        get = get.parameter(
            ParameterBuilder::new()
                .name("username")
                .parameter_in(ParameterIn::Query)
                .required(Required::True)
                .schema(Some(text())),
        );
    }
    let mut item = PathItem::new(HttpMethod::Post, answers(post));
    item.merge_operations(PathItem::new(HttpMethod::Get, answers(get)));
    item
}

/// The errors of the resource API; `auth` when the operation needs (or checks) a token.
fn api_errors(op: OperationBuilder, auth: bool, write: bool) -> OperationBuilder {
    let mut op = op.response(
        "400",
        ResponseBuilder::new()
            .description("Invalid fields (`{\"name\": [\"...\"]}`) or a malformed request.")
            .content(
                doc::JSON,
                Content::new(Some(
                    AnyOfBuilder::new()
                        .item(schema("Detail"))
                        .item(schema("FieldErrors")),
                )),
            ),
    );
    if auth {
        op = op
            .response(
                "401",
                detail_error("No token, or one that is invalid, expired or revoked."),
            )
            .response(
                "403",
                detail_error(
                    "The token lacks the scope, the caller does not own the item, or already \
                     owns the most items allowed (`MAX_ITEMS_PER_USER`).",
                ),
            );
    }
    if write {
        op = op.response("415", detail_error("The body is not JSON."));
    }
    with_common_errors(op, false)
}

/// `?page=` and `?page_size=` of a list (see `api::pagination`).
fn page_param(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1)),
        ))
        .build()
}

/// The component name of a page of `item`s, as drf-spectacular names it.
fn paginated(item: &str) -> String {
    format!("Paginated{item}List")
}

/// A page of `item`s: DRF's `{"count", "next", "previous", "results"}`.
fn page_schema(item: &str) -> ObjectBuilder {
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
        .property("results", ArrayBuilder::new().items(schema(item)))
        .required("count")
        .required("next")
        .required("previous")
        .required("results")
}

fn list(id: &str, summary: &str, item: &str, required: bool) -> OperationBuilder {
    let op = operation(id, "api", summary)
        .parameter(page_param(
            "page",
            "1-based page number; a page past the last is a 404 `Invalid page.`",
        ))
        .parameter(page_param(
            "page_size",
            "Objects per page (default `PAGE_SIZE`); above `MAX_PAGE_SIZE` gets `MAX_PAGE_SIZE`.",
        ))
        .response(
            "200",
            json_response("One page of them, in id order.", &paginated(item)),
        )
        .response("404", detail_error("Invalid page."));
    let op = if required {
        op.security(bearer())
    } else {
        op.security(SecurityRequirement::default())
            .security(bearer())
    };
    api_errors(op, true, false)
}

/// `/api/<kind>/` and `/api/<kind>/{id}/`: list, create, retrieve, update, delete.
fn collection(
    kind: &str,
    out: &str,
    input: &str,
    update: &str,
    anyone_reads: bool,
) -> (PathItem, PathItem) {
    let read = |op: OperationBuilder| {
        if anyone_reads {
            op.security(SecurityRequirement::default())
                .security(bearer())
        } else {
            op.security(bearer())
        }
    };
    let created = json_response("Created.", out);
    let create = api_errors(
        operation(
            &format!("{kind}_create"),
            "api",
            &format!("Create one of {kind}"),
        )
        .security(bearer())
        .request_body(json_body(input))
        .response("201", created),
        true,
        true,
    )
    .build();
    let mut all = PathItem::new(
        HttpMethod::Get,
        list(
            &format!("{kind}_list"),
            &format!("List {kind}"),
            out,
            !anyone_reads,
        )
        .build(),
    );
    all.merge_operations(PathItem::new(HttpMethod::Post, create));

    let id = || path_param("id", true);
    let not_found = || detail_error("No such id.");
    let retrieve = api_errors(
        read(operation(
            &format!("{kind}_retrieve"),
            "api",
            &format!("One of {kind}"),
        ))
        .parameter(id())
        .response("200", json_response("It.", out))
        .response("404", not_found()),
        true,
        false,
    )
    .build();
    let change = |method: &str, summary: &str, body: &str| {
        api_errors(
            operation(&format!("{kind}_{method}"), "api", summary)
                .security(bearer())
                .parameter(id())
                .request_body(json_body(body))
                .response("200", json_response("Updated.", out))
                .response("404", not_found()),
            true,
            true,
        )
        .build()
    };
    let delete = api_errors(
        operation(
            &format!("{kind}_delete"),
            "api",
            &format!("Delete one of {kind}"),
        )
        .security(bearer())
        .parameter(id())
        .response("204", ResponseBuilder::new().description("Deleted."))
        .response("404", not_found()),
        true,
        false,
    )
    .build();
    let mut one = PathItem::new(HttpMethod::Get, retrieve);
    one.merge_operations(PathItem::new(
        HttpMethod::Put,
        change("update", "Replace it", update),
    ));
    one.merge_operations(PathItem::new(
        HttpMethod::Patch,
        change("partial_update", "Change it", &format!("{update}Patch")),
    ));
    one.merge_operations(PathItem::new(HttpMethod::Delete, delete));
    (all, one)
}

fn static_file(id: &str, summary: &str, content_type: &str) -> PathItem {
    PathItem::new(
        HttpMethod::Get,
        operation(id, "page", summary)
            .response(
                "200",
                ResponseBuilder::new().description(summary).content(
                    content_type,
                    Content::new(Some(ObjectBuilder::new().schema_type(Type::String))),
                ),
            )
            .response(
                "404",
                detail_error("Not served: the test page needs demo mode (--demo, DEMO_MODE)."),
            )
            .build(),
    )
}

/// A PATCH body: the same fields as `T`, none of them required (absent means unchanged).
fn partial<T: utoipa::PartialSchema>() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let mut schema = T::schema();
    if let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object)) = &mut schema
    {
        object.required.clear();
    }
    schema
}

pub fn document() -> OpenApi {
    let mut paths = provider_paths(true);
    let (items, item) = collection("items", "ItemOut", "ItemInput", "ItemInput", true);
    let (concepts, concept) = collection(
        "concepts",
        "ConceptOut",
        "ConceptInput",
        "ConceptInput",
        false,
    );
    let users = PathItem::new(
        HttpMethod::Get,
        list("users_list", "List active users", "UserOut", true).build(),
    );
    let user = PathItem::new(
        HttpMethod::Get,
        api_errors(
            operation("users_retrieve", "api", "One active user")
                .security(bearer())
                .parameter(path_param("id", true))
                .response("200", json_response("The user.", "UserOut"))
                .response("404", detail_error("No such active user.")),
            true,
            false,
        )
        .build(),
    );
    let root = PathItem::new(
        HttpMethod::Get,
        operation("api_root", "api", "Links to the collections")
            .response(
                "200",
                ResponseBuilder::new().description("The links.").content(
                    doc::JSON,
                    Content::new(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::Object)
                            .property("users", ObjectBuilder::new().schema_type(Type::String))
                            .property("items", ObjectBuilder::new().schema_type(Type::String))
                            .property("concepts", ObjectBuilder::new().schema_type(Type::String))
                            .required("users")
                            .required("items")
                            .required("concepts"),
                    )),
                ),
            )
            .build(),
    );
    paths.merge(
        PathsBuilder::new()
            .path(
                "/users/register-by-token/fake_social_site/",
                register("fake_social_site", false),
            )
            .path(
                "/users/register-by-token/fake_social_site_with_params/",
                register("fake_social_site_with_params", true),
            )
            .path("/api/", root)
            .path("/api/users/", users)
            .path("/api/users/{id}/", user)
            .path("/api/items/", items)
            .path("/api/items/{id}/", item)
            .path("/api/concepts/", concepts)
            .path("/api/concepts/{id}/", concept)
            .path(
                "/",
                static_file("page", "The browser test page", "text/html"),
            )
            .path(
                "/static/app.js",
                static_file("page_script", "The test page's script", "text/javascript"),
            )
            .path(
                "/static/style.css",
                static_file("page_style", "The test page's style sheet", "text/css"),
            )
            .build(),
    );
    let field_errors = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)),
        ));
    doc::document(
        "My API",
        "An OAuth2 provider for its own users that also accepts Fake Social Site users (token \
         exchange), with a small resource API.",
        paths,
        doc::components(&EXCHANGE_GRANTS, &EXCHANGE_PARAMETERS)
            .schema_from::<ItemInput>()
            .schema("ItemInputPatch", partial::<ItemInput>())
            .schema_from::<ItemOut>()
            .schema_from::<ConceptInput>()
            .schema("ConceptInputPatch", partial::<ConceptInput>())
            .schema_from::<ConceptOut>()
            .schema_from::<UserOut>()
            .schema(paginated("ItemOut"), page_schema("ItemOut"))
            .schema(paginated("ConceptOut"), page_schema("ConceptOut"))
            .schema(paginated("UserOut"), page_schema("UserOut"))
            .schema("FieldErrors", field_errors),
    )
}

#[cfg(test)]
mod tests {
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
        let json = super::document().to_json().expect("serialise");
        let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
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
    fn names_follow_the_servers_rule_and_a_patch_requires_nothing() {
        let json = super::document().to_json().expect("serialise");
        let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
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
