//! The OpenAPI 3.1 document of the routes, generated from their handlers' annotations.

use utoipa::OpenApi;

use crate::error::ErrorBody;
use crate::{api, auth};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "semantik",
        description = "The collection-centric REST v2 API of semantik: collections, their documents and operations, search; accounts under /api/v1/auth. Every v2 endpoint takes `Authorization: Bearer <access token or API key>` unless the server runs with --no-auth."
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    paths(
        api::list_collections,
        api::create_collection,
        api::get_collection,
        api::update_collection,
        api::delete_collection,
        api::add_documents,
        api::list_documents,
        api::get_document,
        api::document_content,
        api::collection_operations,
        api::start_operation,
        api::list_operations,
        api::get_operation,
        api::cancel_operation,
        api::search_collection,
        api::search_collections,
        auth::register,
        auth::login,
        auth::refresh,
        auth::logout,
        auth::me,
        auth::create_key,
        auth::list_keys,
        auth::revoke_key,
        auth::get_permissions,
        auth::grant,
    ),
    components(schemas(
        ErrorBody,
        api::NewCollection,
        api::CollectionUpdate,
        api::NewDocuments,
        api::NewDocument,
        auth::Register,
        auth::Login,
        auth::RefreshToken,
        auth::NewKey,
        auth::Grant
    ))
)]
struct Document;

/// The `bearer` security scheme: an access token (JWT) or an API key.
struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or API key")
                    .build(),
            ),
        );
        // Every operation that takes a credential may refuse it or what it asks.
        let refusals = [
            ("401", "Not signed in: no, a wrong or an expired credential"),
            ("403", "Signed in, but not allowed to do this"),
            (
                "429",
                "Too many requests from this credential (servers started with a rate limit)",
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                if op.security.is_some() {
                    continue;
                }
                for (code, text) in refusals {
                    op.responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| {
                            utoipa::openapi::ResponseBuilder::new()
                                .description(text)
                                .content(
                                    "application/json",
                                    utoipa::openapi::ContentBuilder::new()
                                        .schema(Some(utoipa::openapi::Ref::from_schema_name(
                                            "ErrorBody",
                                        )))
                                        .build(),
                                )
                                .build()
                                .into()
                        });
                }
            }
        }
    }
}

/// The document, as JSON.
pub(crate) fn document() -> serde_json::Value {
    let mut doc = Document::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    serde_json::to_value(doc).unwrap_or_default()
}
