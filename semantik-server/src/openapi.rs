//! The OpenAPI 3.1 document of the routes, generated from their handlers' annotations.

use utoipa::OpenApi;

use crate::api;
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "semantik",
        description = "The collection-centric REST v2 API of semantik: collections, their documents and operations, search."
    ),
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
    ),
    components(schemas(ErrorBody, api::NewCollection, api::CollectionUpdate, api::Paths))
)]
struct Document;

/// The document, as JSON.
pub(crate) fn document() -> serde_json::Value {
    let mut doc = Document::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    serde_json::to_value(doc).unwrap_or_default()
}
