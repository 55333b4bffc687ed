//! Fake Social Site's OpenAPI 3.1 document, served at `/openapi.json`: the shared `/o/`
//! endpoints, the OpenID Connect provider's (authorization, login, consent, logout,
//! userinfo, discovery) and the profile endpoints, each described beside its handler.

use std::sync::OnceLock;

use actix_web::web;
use shared::oauth2::form::TokenRequest;
use shared::oauth2::{authorize, discovery, login, userinfo};
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fake Social Site",
        description = "An OAuth2 and OpenID Connect provider playing the part of a social \
                       network: the authorization code flow with PKCE and its login and consent \
                       pages, ID tokens and userinfo, password and refresh grants, revocation, \
                       introspection, and the token owner's profile."
    ),
    paths(
        crate::profile::user_details,
        crate::profile::user_details_by_username,
        authorize::authorize,
        login::login,
        login::consent,
        login::logout_page,
        login::logout,
        userinfo::userinfo,
        discovery::openid_configuration,
        shared::oauth2::jwks::jwks
    ),
    components(schemas(login::LoginFormBody, login::ConsentFormBody, login::LogoutFormBody))
)]
struct ProfileApi;

/// `/o/token/` here also takes the authorization code grant.
const GRANTS: [&str; 3] = ["password", "refresh_token", "authorization_code"];
const CODE_PARAMETERS: [&str; 3] = ["code", "redirect_uri", "code_verifier"];

pub fn routes(cfg: &mut web::ServiceConfig) {
    static JSON: OnceLock<String> = OnceLock::new();
    shared::service::openapi::routes(cfg, &JSON, document);
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = shared::service::openapi::with_provider(ProfileApi::openapi());
    if let Some(components) = doc.components.as_mut() {
        components.schemas.insert(
            TokenRequest::name().into_owned(),
            TokenRequest::schema_for(&GRANTS, &CODE_PARAMETERS).into(),
        );
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_profile_routes_take_get_and_head_with_a_bearer_token() {
        let json = super::document().to_json().expect("serialise");
        let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        for path in ["/user_details/", "/user_details_by_username/{username}/"] {
            for method in ["get", "head"] {
                let op = &doc["paths"][path][method];
                assert_eq!(
                    op["security"],
                    serde_json::json!([{ "bearer": [] }]),
                    "{path}"
                );
                assert_eq!(
                    op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Profile"
                );
            }
        }
        let token = &doc["paths"]["/o/token/"]["post"];
        let form = &doc["components"]["schemas"]["TokenRequest"];
        assert_eq!(
            form["properties"]["grant_type"]["enum"],
            serde_json::json!(["password", "refresh_token", "authorization_code"])
        );
        for path in [
            "/o/authorize/",
            "/o/login/",
            "/o/consent/",
            "/o/logout/",
            "/o/userinfo/",
            "/.well-known/openid-configuration",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
        assert!(token["responses"]["502"].is_null(), "no exchange here");
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }
}
