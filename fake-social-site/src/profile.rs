//! The profile endpoints: `user_details/` and `user_details_by_username/<username>/`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde_json::json;
use shared::oauth2::bearer::{BearerError, BearerUser};
use shared::profile::Profile;
use shared::security::scope;
use shared::service::openapi::Detail;
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

/// The answers of both profile endpoints: the profile, or why not.
#[derive(Debug)]
struct ProfileAnswers;

impl IntoResponses for ProfileAnswers {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let answer = |description: &str, schema: Cow<'static, str>| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name(schema))),
                )
                .build()
                .into()
        };
        let detail = |description: &str| answer(description, Detail::name());
        BTreeMap::from([
            (
                "200".into(),
                answer("The token owner's profile.", Profile::name()),
            ),
            (
                "400".into(),
                detail("A malformed Authorization header, or a token in the query string."),
            ),
            (
                "401".into(),
                detail("No token, or one that is invalid, expired or revoked."),
            ),
            ("403".into(), detail("The token lacks the `read` scope.")),
            ("503".into(), detail("The database is unavailable.")),
        ])
    }
}

/// `GET|HEAD /user_details/`: the token owner's profile.
#[utoipa::path(
    method(get, head),
    path = "/user_details/",
    operation_id = "user_details",
    tag = "profile",
    summary = "The token owner's profile",
    security(("bearer" = [])),
    responses(ProfileAnswers)
)]
pub async fn user_details(caller: BearerUser) -> Result<HttpResponse, BearerError> {
    caller.require_scope(scope::READ)?;
    Ok(HttpResponse::Ok().json(profile_of(&caller)))
}

/// `GET|HEAD /user_details_by_username/<username>/`: the same profile when `username` is the
/// token's owner; 404 for anyone else, existing or not, so names cannot be enumerated.
#[utoipa::path(
    method(get, head),
    path = "/user_details_by_username/{username}/",
    operation_id = "user_details_by_username",
    tag = "profile",
    summary = "The profile, if `username` owns the token",
    params(("username" = String, Path, min_length = 1)),
    security(("bearer" = [])),
    responses(
        ProfileAnswers,
        (status = 404, description = "Not the token's owner (or no such user).", body = Detail)
    )
)]
pub async fn user_details_by_username(
    caller: BearerUser,
    username: web::Path<String>,
) -> Result<HttpResponse, BearerError> {
    caller.require_scope(scope::READ)?;
    if *username != caller.user.username {
        return Ok(HttpResponse::NotFound().json(json!({ "detail": "Not found." })));
    }
    Ok(HttpResponse::Ok().json(profile_of(&caller)))
}

fn profile_of(caller: &BearerUser) -> Profile {
    let user = &caller.user;
    Profile {
        id: user.id,
        username: user.username.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        email: user.email.clone(),
    }
}
