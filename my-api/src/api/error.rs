//! Errors of the resource API, answered DRF-style: `{"detail": ...}` or field errors.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};
use shared::oauth2::bearer::BearerError;
use shared::storage::db::StorageError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("permission denied")]
    Forbidden,
    /// The caller already owns the most items allowed (`MAX_ITEMS_PER_USER`).
    #[error("the caller owns the most items allowed")]
    TooManyItems(u32),
    /// A `page` that is not a page of the list (DRF's wording and status).
    #[error("invalid page")]
    InvalidPage,
    #[error("invalid page size")]
    InvalidPageSize,
    /// Field errors, e.g. `{"name": ["This field is required."]}`.
    #[error("invalid input")]
    Invalid(Value),
    #[error("malformed JSON body: {0}")]
    BadJson(String),
    /// The database refused the data (a constraint): 409 with what was wrong.
    #[error("the data conflicts with what is stored: {0}")]
    Conflict(&'static str),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error(transparent)]
    Auth(#[from] BearerError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        match e {
            Error::NotFound => ApiError::NotFound,
            // The input broke a rule of the schema that validation did not catch: the
            // client's fault, said as such, never a 500. Logged, since it means validation
            // and schema disagree.
            Error::DatabaseError(
                kind @ (Kind::CheckViolation
                | Kind::NotNullViolation
                | Kind::ForeignKeyViolation
                | Kind::UniqueViolation),
                info,
            ) => {
                log::warn!("storage refused the input ({kind:?}): {}", info.message());
                ApiError::Conflict(match kind {
                    Kind::UniqueViolation => "An object with these values already exists.",
                    Kind::ForeignKeyViolation => "The object refers to one that does not exist.",
                    _ => "The data breaks a rule of the stored model.",
                })
            }
            other => ApiError::Storage(other.into()),
        }
    }
}

impl ApiError {
    pub fn field(name: &str, message: &str) -> Self {
        ApiError::Invalid(json!({ name: [message] }))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound | ApiError::InvalidPage => StatusCode::NOT_FOUND,
            ApiError::Forbidden | ApiError::TooManyItems(_) => StatusCode::FORBIDDEN,
            ApiError::Invalid(_) | ApiError::BadJson(_) | ApiError::InvalidPageSize => {
                StatusCode::BAD_REQUEST
            }
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Auth(e) => e.status_code(),
            ApiError::Storage(StorageError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match self {
            ApiError::Auth(e) => return e.error_response(),
            ApiError::Invalid(fields) => return HttpResponse::BadRequest().json(fields),
            ApiError::NotFound => "Not found.".to_owned(),
            ApiError::Forbidden => "You do not have permission to perform this action.".to_owned(),
            ApiError::TooManyItems(max) => {
                format!("You may own at most {max} items; delete one before creating another.")
            }
            ApiError::InvalidPage => "Invalid page.".to_owned(),
            ApiError::InvalidPageSize => "Invalid page size.".to_owned(),
            ApiError::BadJson(why) => format!("JSON parse error - {why}"),
            ApiError::Conflict(why) => (*why).to_owned(),
            ApiError::UnsupportedMediaType => {
                "Unsupported media type; send application/json.".to_owned()
            }
            ApiError::Storage(e) => {
                e.log();
                "The service is temporarily unavailable.".to_owned()
            }
        };
        HttpResponse::build(self.status_code()).json(json!({ "detail": detail }))
    }
}

/// Turns body extraction failures into JSON 400/413/415 answers.
pub fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(16 * 1024)
        .error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError;
            match err {
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType.into(),
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    actix_web::error::ErrorPayloadTooLarge("Request body is too large.")
                }
                other => ApiError::BadJson(other.to_string()).into(),
            }
        })
}

/// A JSON body that must be an object: serde would also read a struct from an array
/// (`[null, null]`), which no client means.
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: serde::de::DeserializeOwned> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, Value>::deserialize(d)?;
        T::deserialize(Value::Object(map))
            .map(Object)
            .map_err(serde::de::Error::custom)
    }
}

/// What a name must look like, as the OpenAPI document declares it (the `pattern` of the
/// `name` fields, checked equal by a test): no control character anywhere, at least one that
/// is not white space. [`valid_name`] enforces the same.
pub const NAME_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// Longest name, in characters, as sent (the stored name is trimmed).
pub const NAME_MAX: usize = 200;

/// A required name of at most 200 characters, without control characters, stored trimmed.
pub fn valid_name(name: Option<&str>) -> Result<String, ApiError> {
    let raw = name.unwrap_or_default();
    if shared::security::text::has_control_characters(raw) {
        return Err(ApiError::field(
            "name",
            shared::security::text::CONTROL_CHARACTERS,
        ));
    }
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::field("name", "This field is required."));
    }
    // Counted as sent, so that what the document's maxLength refuses is refused here too.
    if raw.chars().count() > NAME_MAX {
        return Err(ApiError::field(
            "name",
            "Ensure this field has no more than 200 characters.",
        ));
    }
    Ok(name.to_owned())
}

/// For an optional field where absent and `null` differ: `None` when absent, `Some(None)`
/// for `null`. Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// The `name` field of an input: absent (`Name(None)`, the default), `null` or a string. It
/// is required unless the change is partial (a PATCH, where absent means unchanged), never
/// `null`, and a [`valid_name`].
#[derive(Debug, Default)]
pub struct Name(Option<Option<String>>);

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        present(d).map(Name)
    }
}

impl utoipa::ToSchema for Name {}

impl utoipa::PartialSchema for Name {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some(
                "At most 200 characters, stored trimmed; no control characters. Required, \
                 except in a\nPATCH, where absent means unchanged.",
            ))
            .min_length(Some(1))
            .max_length(Some(NAME_MAX))
            .pattern(Some(NAME_PATTERN))
            .into()
    }
}

impl Name {
    /// The name of an update: `None` for a `partial` one without a name.
    pub fn field(&self, partial: bool) -> Result<Option<String>, ApiError> {
        match &self.0 {
            None if partial => Ok(None),
            None => Err(ApiError::field("name", "This field is required.")),
            Some(None) => Err(ApiError::field("name", "This field may not be null.")),
            Some(Some(name)) => valid_name(Some(name)).map(Some),
        }
    }

    /// The name of a create: as [`Name::field`] for a full change.
    pub fn required(&self) -> Result<String, ApiError> {
        self.field(false)?
            .ok_or_else(|| ApiError::field("name", "This field is required."))
    }
}

#[cfg(test)]
mod tests {
    use super::ApiError;
    use actix_web::ResponseError;
    use actix_web::http::StatusCode;
    use diesel::result::{DatabaseErrorKind as Kind, Error};

    #[test]
    fn a_constraint_the_database_enforces_is_a_409_and_never_a_500() {
        for kind in [
            Kind::CheckViolation,
            Kind::NotNullViolation,
            Kind::ForeignKeyViolation,
            Kind::UniqueViolation,
        ] {
            let e = ApiError::from(Error::DatabaseError(
                kind,
                Box::new("constraint failed".to_owned()),
            ));
            assert_eq!(e.status_code(), StatusCode::CONFLICT, "{kind:?}");
        }
        let e = ApiError::from(Error::DatabaseError(
            Kind::Unknown,
            Box::new("disk I/O error".to_owned()),
        ));
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
