//! The `#[utoipa::path]` of the operations the collections share, written once:
//! `documented! { <operation> "<collection>" ...; <handler> }` puts the attribute on the
//! handler it wraps, so each handler still carries its description.
//!
//! The collections differ only in their names and types, and in who may read them (given as
//! the `security(...)` of the reading operations); every answer is described here.

/// Puts the OpenAPI description of one operation of a collection on the handler that follows.
/// Paths, operation ids and summaries are built from the collection's name; `one` takes the
/// summary and answers of an operation on `/api/<name>/{id}/` that words them its own way.
macro_rules! documented {
    (list $name:tt of $page:ident, $summary:tt, security $security:tt; $($handler:tt)*) => {
        #[utoipa::path(
            get,
            path = concat!("/api/", $name, "/"),
            operation_id = concat!($name, "_list"),
            tag = "api",
            summary = $summary,
            params($crate::api::pagination::PageParams),
            security $security,
            responses(
                (status = 200, description = "One page of them, in id order.", body = $page),
                (status = 404, description = "Invalid page.",
                    body = shared::service::openapi::Detail),
                $crate::openapi::ApiErrors
            )
        )]
        $($handler)*
    };
    (retrieve $name:tt -> $out:ident, security $security:tt; $($handler:tt)*) => {
        documented! {
            one $name get "_retrieve", concat!("One of ", $name), security $security,
            responses(
                (status = 200, description = "It.", body = $out),
                $crate::openapi::NoSuchId,
                $crate::openapi::ApiErrors
            );
            $($handler)*
        }
    };
    (create $name:tt, $input:ident -> $out:ident; $($handler:tt)*) => {
        #[utoipa::path(
            post,
            path = concat!("/api/", $name, "/"),
            operation_id = concat!($name, "_create"),
            tag = "api",
            summary = concat!("Create one of ", $name),
            request_body = $input,
            security(("bearer" = [])),
            responses(
                (status = 201, description = "Created.", body = $out),
                $crate::openapi::ApiWriteErrors
            )
        )]
        $($handler)*
    };
    // PUT, and PATCH with its own handler (so that it has its own operation) that calls the
    // PUT one, which reads the method: a PATCH body is `$patch`, the same fields as `$input`,
    // none of them required.
    (update $name:tt, $input:ident or $patch:ident -> $out:ident; $($handler:tt)*) => {
        documented! { @change $name put "_update", "Replace it", $input -> $out; $($handler)* }
        documented! {
            @change $name patch "_partial_update", "Change it", $patch -> $out;
            pub(crate) async fn partial_update(
                caller: shared::oauth2::bearer::BearerUser,
                method: actix_web::http::Method,
                id: actix_web::web::Path<i64>,
                input: actix_web::web::Json<$crate::api::error::Object<$input>>,
                info: $crate::api::PublicUrl,
                provider: actix_web::web::Data<shared::oauth2::provider::Provider>,
            ) -> Result<actix_web::HttpResponse, $crate::api::error::ApiError> {
                update(caller, method, id, input, info, provider).await
            }
        }
    };
    (@change $name:tt $method:ident $suffix:tt, $summary:tt, $body:ident -> $out:ident;
        $($handler:tt)*) => {
        documented! {
            one $name $method $suffix, $summary, security(("bearer" = [])), body $body,
            responses(
                (status = 200, description = "Updated.", body = $out),
                $crate::openapi::NoSuchId,
                $crate::openapi::ApiWriteErrors
            );
            $($handler)*
        }
    };
    // DELETE, handled by deleting in one write transaction with `$delete(conn, id, caller's
    // user id)`, which refuses what the caller may not delete.
    (destroy $name:tt with $delete:path) => {
        documented! {
            one $name delete "_delete", concat!("Delete one of ", $name),
            security(("bearer" = [])),
            responses(
                (status = 204, description = "Deleted."),
                $crate::openapi::NoSuchId,
                $crate::openapi::ApiErrors
            );
            pub(crate) async fn destroy(
                caller: shared::oauth2::bearer::BearerUser,
                id: actix_web::web::Path<i64>,
                provider: actix_web::web::Data<shared::oauth2::provider::Provider>,
            ) -> Result<actix_web::HttpResponse, $crate::api::error::ApiError> {
                caller.require_scope(shared::security::scope::WRITE)?;
                let (id, owner) = (id.into_inner(), caller.user.id);
                provider.db.write(move |conn| $delete(conn, id, owner)).await?;
                Ok(actix_web::HttpResponse::NoContent().finish())
            }
        }
    };
    // Any operation on `/api/<name>/{id}/`, its id `<name>$suffix`, with the answers given.
    (one $name:tt $method:ident $suffix:tt, $summary:expr, security $security:tt,
        $(body $body:ident,)? responses $responses:tt; $($handler:tt)*) => {
        #[utoipa::path(
            $method,
            path = concat!("/api/", $name, "/{id}/"),
            operation_id = concat!($name, $suffix),
            tag = "api",
            summary = $summary,
            params(("id" = i64, Path)),
            $(request_body = $body,)?
            security $security,
            responses $responses
        )]
        $($handler)*
    };
}

pub(crate) use documented;
