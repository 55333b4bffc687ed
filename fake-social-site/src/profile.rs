//! The profile endpoints: `user_details/` and `user_details_by_username/<username>/`.

use actix_web::{HttpResponse, web};
use serde_json::json;
use shared::oauth2::bearer::{BearerError, BearerUser};
use shared::profile::Profile;
use shared::security::scope;

/// `GET|HEAD /user_details/`: the token owner's profile.
pub async fn user_details(caller: BearerUser) -> Result<HttpResponse, BearerError> {
    caller.require_scope(scope::READ)?;
    Ok(HttpResponse::Ok().json(profile_of(&caller)))
}

/// `GET|HEAD /user_details_by_username/<username>/`: the same profile when `username` is the
/// token's owner; 404 for anyone else, existing or not, so names cannot be enumerated.
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
