//! The REST v2 routes: collections, their documents and operations, and search. Bodies are JSON
//! read with the core's own types where it has them (search options, filters, chunking,
//! reindex settings), so there is one JSON dialect; an unknown key is a 422 naming it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use semantik_core::accounts::Permission;
use semantik_core::embed::Precision;
use semantik_core::{
    ChunkingConfig, Collection, CollectionConfig, CollectionInfo, Database, DocumentStatus,
    Metadata, OperationFilter, OperationInfo, OperationStatus, ReindexSettings, SearchOptions,
    SourceOptions,
};

use semantik_core::rerank::CrossEncoder;

use crate::auth::{Auth, Who};
use crate::error::{ApiError, ErrorBody};

pub(crate) type Answer = Result<Response, ApiError>;

/// What every handler shares: the database, the roots clients may read, and whether the
/// server is stopping (long-lived connections end then).
#[derive(Debug, Clone)]
pub(crate) struct State(Arc<Shared>);

#[derive(Debug)]
pub(crate) struct Shared {
    db: Database,
    roots: Vec<PathBuf>,
    stopping: tokio::sync::watch::Receiver<bool>,
    /// The accounts, unless the server runs without (`--no-auth`).
    auth: Option<Arc<Auth>>,
    /// The cross-encoders searches asked for, loaded once each.
    rerankers: std::sync::Mutex<std::collections::HashMap<String, Arc<CrossEncoder>>>,
}

impl State {
    pub(crate) fn new(
        db: Database,
        roots: Vec<PathBuf>,
        stopping: tokio::sync::watch::Receiver<bool>,
        auth: Option<Arc<Auth>>,
    ) -> Self {
        State(Arc::new(Shared {
            db,
            roots,
            stopping,
            auth,
            rerankers: Default::default(),
        }))
    }

    pub(crate) fn db(&self) -> Database {
        self.0.db.clone()
    }

    /// The cross-encoder `name` (a model of the Hugging Face cache, as embedding models are
    /// found), loaded the first time a search asks for it.
    fn reranker(&self, name: &str) -> Result<Arc<CrossEncoder>, ApiError> {
        let named = name.split('/').count() == 2
            && name
                .split('/')
                .all(|p| !p.is_empty() && !p.starts_with('.'))
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
        if !named {
            return Err(ApiError::unprocessable(
                "rerank: a cross-encoder's model name, org/name",
            ));
        }
        if let Some(r) = self.0.rerankers.lock().expect("rerankers").get(name) {
            return Ok(r.clone());
        }
        let loaded = Arc::new(CrossEncoder::load(name)?);
        self.0
            .rerankers
            .lock()
            .expect("rerankers")
            .insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }

    pub(crate) fn roots(&self) -> &[PathBuf] {
        &self.0.roots
    }

    pub(crate) fn auth(&self) -> Option<&Arc<Auth>> {
        self.0.auth.as_ref()
    }

    /// Resolves once the server stops (never, for a router whose server is gone).
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.stopping.clone();
        async move {
            if rx.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Runs a call of the (blocking) library on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal", e.to_string()))?
}

/// A JSON body as `T`; an empty body is `{}`.
pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| ApiError::unprocessable(format!("body: {e}")))
}

pub(crate) fn reply(status: StatusCode, value: Value) -> Answer {
    Ok((status, Json(value)).into_response())
}

pub(crate) fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub(crate) fn collection_json(info: &CollectionInfo) -> Value {
    let c = &info.config;
    json!({
        "id": info.id.to_string(),
        "name": c.name,
        "description": c.description,
        "model_name": c.model,
        "model_revision": c.model_revision,
        "model_dimension": c.dimension,
        "precision": c.model_precision,
        "chunking": c.chunking,
        "index": c.index,
        "keyword": c.keyword,
        "metadata": c.metadata,
        "status": info.status,
        "status_message": info.status_message,
        "document_count": info.stats.documents,
        "failed_document_count": info.stats.failed_documents,
        "vector_count": info.stats.vectors,
        "total_size_bytes": info.stats.source_bytes,
        "created_at": seconds(info.created_at),
        "updated_at": seconds(info.updated_at),
    })
}

pub(crate) fn operation_json(info: &OperationInfo) -> Value {
    let mut v = serde_json::to_value(info).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        for key in ["created_at", "started_at", "finished_at", "updated_at"] {
            if let Some(t) = o.get(key).cloned().filter(|t| !t.is_null()) {
                let t: Option<SystemTime> = serde_json::from_value(t).ok();
                o.insert(key.into(), json!(t.map(seconds)));
            }
        }
    }
    v
}

pub(crate) fn router(state: State) -> axum::Router {
    let v2 = axum::Router::new()
        .route(
            "/collections",
            get(list_collections).post(create_collection),
        )
        .route(
            "/collections/{id}",
            get(get_collection)
                .put(update_collection)
                .delete(delete_collection),
        )
        .route(
            "/collections/{id}/documents",
            get(list_documents).post(add_documents),
        )
        .route("/collections/{id}/documents/{doc}", get(get_document))
        .route(
            "/collections/{id}/documents/{doc}/content",
            get(document_content),
        )
        .route("/collections/{id}/operations", get(collection_operations))
        .route("/collections/{id}/operations/{kind}", post(start_operation))
        .route("/collections/{id}/search", post(search_collection))
        .route("/search", post(search_collections))
        .route("/operations", get(list_operations))
        .route(
            "/operations/{id}",
            get(get_operation).delete(cancel_operation),
        )
        .route(
            "/collections/{id}/permissions",
            get(crate::auth::get_permissions).put(crate::auth::grant),
        )
        .route(
            "/api-keys",
            get(crate::auth::list_keys).post(crate::auth::create_key),
        )
        .route("/api-keys/{id}", delete(crate::auth::revoke_key));
    axum::Router::new()
        .nest("/api/v2", v2)
        .nest("/api/v1/auth", crate::auth::routes())
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/ws", get(crate::ws::upgrade))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such endpoint") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// A handler that panicked answers 500 in the error shape; the server goes on.
fn panicked(panic: Box<dyn std::any::Any + Send>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal",
        format!("the server failed on this request: {what}"),
    )
    .into_response()
}

pub(crate) type St = axum::extract::State<State>;

/// A query string as `T`; one that does not read is a 422 in the API's error shape.
#[derive(Debug)]
pub(crate) struct Query<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(t)| Query(t))
            .map_err(|e| ApiError::unprocessable(format!("query: {}", e.body_text())))
    }
}

/// Path parameters as `T`; ones that do not read (invalid UTF-8, say) name nothing that exists:
/// 404 in the API's error shape.
#[derive(Debug)]
pub(crate) struct UrlPath<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for UrlPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(t)| UrlPath(t))
            .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "NotFound", e.body_text()))
    }
}

/// The largest request body taken (a bigger one is 413 in the API's error shape).
pub(crate) const MAX_BODY: usize = 2 * 1024 * 1024;

/// A request's body, at most [`MAX_BODY`] bytes.
#[derive(Debug)]
pub(crate) struct Body(pub(crate) Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|e| {
                let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "PayloadTooLarge"
                } else {
                    "InvalidArgument"
                };
                ApiError::new(
                    e.status(),
                    code,
                    format!("body: {} (at most {MAX_BODY} bytes)", e.body_text()),
                )
            })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    #[serde(default = "one")]
    page: usize,
    #[serde(default = "fifty")]
    per_page: usize,
}

fn one() -> usize {
    1
}

fn fifty() -> usize {
    50
}

#[utoipa::path(get, path = "/api/v2/collections", tag = "collections",
    params(("page" = Option<usize>, Query, description = "Page, from 1"), ("per_page" = Option<usize>, Query, description = "Collections per page, 1 to 100 (default 50)")),
    responses((status = 200, description = "A page of collections: `collections`, `total`, `page`, `per_page`", body = Object), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn list_collections(st: St, who: Who, Query(p): Query<Page>) -> Answer {
    if p.page == 0 || p.per_page == 0 || p.per_page > 100 {
        return Err(ApiError::unprocessable(
            "page must be at least 1 and per_page 1 to 100",
        ));
    }
    let st = st.0;
    let (items, total) = blocking(move || {
        let all = st.readable_collections(&who)?;
        let items: Vec<Value> = all
            .iter()
            .skip((p.page - 1).saturating_mul(p.per_page))
            .take(p.per_page)
            .map(|c| st.collection_view(c))
            .collect();
        Ok((items, all.len()))
    })
    .await?;
    reply(
        StatusCode::OK,
        json!({"collections": items, "total": total, "page": p.page, "per_page": p.per_page}),
    )
}

/// A new collection's settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCollection {
    name: String,
    #[serde(default)]
    description: String,
    /// The embedding model (default sentence-transformers/all-MiniLM-L6-v2).
    model_name: Option<String>,
    /// Checked against the model's.
    model_dimension: Option<usize>,
    /// float32, float16 or int8.
    #[schema(value_type = Option<String>)]
    precision: Option<Precision>,
    /// `{"unit": "tokens" | "characters", "max_size", "overlap"}`.
    #[schema(value_type = Option<Object>)]
    chunking: Option<ChunkingConfig>,
    #[serde(default)]
    #[schema(value_type = Object)]
    metadata: Metadata,
    /// Whether every signed-in user may read it (default false).
    is_public: Option<bool>,
}

#[utoipa::path(post, path = "/api/v2/collections", tag = "collections", request_body = NewCollection,
    responses((status = 201, description = "The collection", body = Object), (status = 409, description = "A conflict: the collection has an active operation (ask `?queue=true`), or a name is taken", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn create_collection(st: St, who: Who, Body(bytes): Body) -> Answer {
    st.0.may_create(&who)?;
    let n: NewCollection = body(&bytes)?;
    let is_public = n.is_public;
    let mut config = CollectionConfig::new(n.name)
        .with_description(n.description)
        .with_metadata(n.metadata);
    if let Some(m) = n.model_name {
        config = config.with_model(m);
    }
    if let Some(d) = n.model_dimension {
        config = config.with_dimension(d);
    }
    if let Some(p) = n.precision {
        config = config.with_model_precision(p);
    }
    if let Some(c) = n.chunking {
        config = config.with_chunking(c);
    }
    let st = st.0;
    let view = blocking(move || {
        let col = st.db().create_collection(config)?;
        st.set_access(col.id(), who.user().map(|u| u.id), is_public)?;
        Ok(st.collection_view(&col.info()?))
    })
    .await?;
    reply(StatusCode::CREATED, view)
}

#[utoipa::path(get, path = "/api/v2/collections/{id}", tag = "collections", params(("id" = String, Path, description = "The collection's id")),
    responses((status = 200, description = "The collection", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody)))]
pub(crate) async fn get_collection(st: St, who: Who, UrlPath(id): UrlPath<String>) -> Answer {
    let st = st.0;
    let view = blocking(move || {
        let col = st.collection(&who, &id, Permission::Read)?;
        Ok(st.collection_view(&col.info()?))
    })
    .await?;
    reply(StatusCode::OK, view)
}

/// What an update may change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CollectionUpdate {
    name: Option<String>,
    description: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Metadata>,
    /// Whether every signed-in user may read it.
    is_public: Option<bool>,
}

#[utoipa::path(put, path = "/api/v2/collections/{id}", tag = "collections", params(("id" = String, Path, description = "The collection's id")), request_body = CollectionUpdate,
    responses((status = 200, description = "The collection", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody), (status = 409, description = "A conflict: the collection has an active operation (ask `?queue=true`), or a name is taken", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn update_collection(
    st: St,
    who: Who,
    UrlPath(id): UrlPath<String>,
    Body(bytes): Body,
) -> Answer {
    let u: CollectionUpdate = body(&bytes)?;
    let st = st.0;
    let view = blocking(move || {
        let col = st.collection(&who, &id, Permission::Admin)?;
        st.set_access(col.id(), None, u.is_public)?;
        if let Some(name) = &u.name {
            col.rename(name)?;
        }
        if let Some(d) = &u.description {
            col.set_description(d)?;
        }
        if let Some(m) = u.metadata {
            col.set_metadata(m)?;
        }
        Ok(st.collection_view(&col.info()?))
    })
    .await?;
    reply(StatusCode::OK, view)
}

#[utoipa::path(delete, path = "/api/v2/collections/{id}", tag = "collections", params(("id" = String, Path, description = "The collection's id")),
    responses((status = 202, description = "The delete operation", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody)))]
pub(crate) async fn delete_collection(st: St, who: Who, UrlPath(id): UrlPath<String>) -> Answer {
    let st = st.0;
    let op = blocking(move || {
        let name = st.collection(&who, &id, Permission::Admin)?.name()?;
        Ok(st.db().delete_collection(&name)?.info())
    })
    .await?;
    reply(StatusCode::ACCEPTED, operation_json(&op))
}

/// `?queue=true`: a write while the collection has an operation waits its turn instead of
/// answering 409.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Queue {
    #[serde(default)]
    queue: bool,
}

/// 409 if `col` has an operation queued or running and the request does not ask to queue.
fn check_idle(col: &Collection, queue: bool) -> Result<(), ApiError> {
    if queue {
        return Ok(());
    }
    let active = col
        .operations(OperationFilter::all())?
        .into_iter()
        .find(|o| !o.status.is_terminal());
    match active {
        Some(o) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "the collection has an active operation ({} {}): retry when it ends, or ask \
                 to queue with ?queue=true",
                serde_json::to_value(o.kind).unwrap_or_default(),
                o.id
            ),
        )),
        None => Ok(()),
    }
}

/// `path` if it lies at or below an allowed root once links are resolved; else 403 (logged).
pub(crate) fn readable(roots: &[PathBuf], path: &Path) -> Result<PathBuf, ApiError> {
    let resolved = path.canonicalize().ok();
    match resolved.filter(|p| roots.iter().any(|r| p.starts_with(r))) {
        Some(p) => Ok(p),
        None => {
            tracing::warn!(path = %path.display(), "refused a path outside the allowed roots");
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!(
                    "{} is not readable: only paths below the server's --allow-root folders are",
                    path.display()
                ),
            ))
        }
    }
}

/// What to add: files by path, or documents given whole.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDocuments {
    /// Files or folders below an allowed root: one indexing operation each.
    #[schema(value_type = Option<Vec<String>>)]
    paths: Option<Vec<PathBuf>>,
    /// Documents with their text (and, in a collection of external vectors, their vector):
    /// one operation for them all.
    documents: Option<Vec<NewDocument>>,
}

/// A document given whole.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDocument {
    /// Its id (adding an id again replaces that document); made up when absent.
    id: Option<String>,
    text: String,
    title: Option<String>,
    /// Its vector: required in a collection of external vectors (model `external`), refused
    /// in one that embeds.
    vector: Option<Vec<f32>>,
    #[serde(default)]
    #[schema(value_type = Object)]
    metadata: Metadata,
}

/// Stages `docs` in `col`: texts to embed, or vectors of an external-vector collection.
fn add_given(col: &Collection, docs: Vec<NewDocument>) -> Result<OperationInfo, ApiError> {
    if docs.iter().all(|d| d.vector.is_some()) {
        let n = docs.len();
        let (mut ids, mut vectors, mut texts, mut metadata) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for d in docs {
            ids.push(d.id.unwrap_or_else(generated_id));
            vectors.push(d.vector.unwrap_or_default());
            texts.push(d.text);
            metadata.push(d.metadata);
        }
        return Ok(col.add_vectors(ids, vectors, texts, metadata)?.info());
    }
    if docs.iter().any(|d| d.vector.is_some()) {
        return Err(ApiError::unprocessable(
            "documents: give a vector for every document or for none",
        ));
    }
    let inputs = docs.into_iter().map(|d| {
        let mut input = semantik_core::DocumentInput::new(d.text).with_metadata(d.metadata);
        if let Some(id) = d.id {
            input = input.with_id(id);
        }
        if let Some(t) = d.title {
            input = input.with_title(t);
        }
        input
    });
    Ok(col.add_texts(inputs)?.info())
}

/// An id for a vector given without one: the time and a count, unique across requests.
fn generated_id() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{t:x}-{n}")
}

#[utoipa::path(post, path = "/api/v2/collections/{id}/documents", tag = "documents", params(("id" = String, Path, description = "The collection's id"), ("queue" = Option<bool>, Query, description = "Queue behind an active operation instead of answering 409")), request_body = NewDocuments,
    responses((status = 202, description = "`operations`: one indexing operation per path, or one for the documents", body = Object), (status = 403, description = "A path outside the allowed roots", body = ErrorBody), (status = 404, description = "No such collection, document or operation", body = ErrorBody), (status = 409, description = "A conflict: the collection has an active operation (ask `?queue=true`), or a name is taken", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn add_documents(
    st: St,
    who: Who,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<Queue>,
    Body(bytes): Body,
) -> Answer {
    let p: NewDocuments = body(&bytes)?;
    let (paths, docs) = match (p.paths, p.documents) {
        (Some(paths), None) if !paths.is_empty() => (
            paths
                .iter()
                .map(|path| readable(&st.0.0.roots, path))
                .collect::<Result<Vec<_>, _>>()?,
            Vec::new(),
        ),
        (None, Some(docs)) if !docs.is_empty() => (Vec::new(), docs),
        _ => {
            return Err(ApiError::unprocessable(
                "give either paths or documents, at least one",
            ));
        }
    };
    let st = st.0;
    let ops = blocking(move || {
        let col = st.collection(&who, &id, Permission::Write)?;
        check_idle(&col, q.queue)?;
        if !docs.is_empty() {
            return Ok(vec![add_given(&col, docs)?]);
        }
        paths
            .iter()
            .map(|p| Ok(col.add_source(p, SourceOptions::default())?.info()))
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    reply(
        StatusCode::ACCEPTED,
        json!({"operations": ops.iter().map(operation_json).collect::<Vec<_>>()}),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentQuery {
    status: Option<DocumentStatus>,
}

#[utoipa::path(get, path = "/api/v2/collections/{id}/documents", tag = "documents",
    params(("id" = String, Path, description = "The collection's id"), ("status" = Option<String>, Query, description = "Only documents with this status: indexed, failed, pending")),
    responses((status = 200, description = "`documents` and `total`", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn list_documents(
    st: St,
    who: Who,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<DocumentQuery>,
) -> Answer {
    let st = st.0;
    let docs =
        blocking(move || Ok(st.collection(&who, &id, Permission::Read)?.documents()?)).await?;
    let docs: Vec<_> = docs
        .into_iter()
        .filter(|d| q.status.is_none_or(|s| d.status == s))
        .collect();
    reply(
        StatusCode::OK,
        json!({"documents": docs, "total": docs.len()}),
    )
}

#[utoipa::path(get, path = "/api/v2/collections/{id}/documents/{doc}", tag = "documents", params(("id" = String, Path, description = "The collection's id"), ("doc" = String, Path, description = "The document's id")),
    responses((status = 200, description = "The document's record", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody)))]
pub(crate) async fn get_document(
    st: St,
    who: Who,
    UrlPath((id, doc)): UrlPath<(String, String)>,
) -> Answer {
    let st = st.0;
    let d =
        blocking(move || Ok(st.collection(&who, &id, Permission::Read)?.document(&doc)?)).await?;
    reply(StatusCode::OK, serde_json::to_value(d).unwrap_or_default())
}

#[utoipa::path(get, path = "/api/v2/collections/{id}/documents/{doc}/content", tag = "documents", params(("id" = String, Path, description = "The collection's id"), ("doc" = String, Path, description = "The document's id")),
    responses((status = 200, description = "The document's text", body = String, content_type = "text/plain"), (status = 404, description = "No such collection, document or operation", body = ErrorBody)))]
pub(crate) async fn document_content(
    st: St,
    who: Who,
    UrlPath((id, doc)): UrlPath<(String, String)>,
) -> Answer {
    let st = st.0;
    let text =
        blocking(move || Ok(st.collection(&who, &id, Permission::Read)?.text(&doc)?)).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusQuery {
    status: Option<OperationStatus>,
}

fn filter(q: &StatusQuery) -> OperationFilter {
    match q.status {
        Some(s) => OperationFilter::all().with_status(s),
        None => OperationFilter::all(),
    }
}

#[utoipa::path(get, path = "/api/v2/collections/{id}/operations", tag = "operations", params(("id" = String, Path, description = "The collection's id"), ("status" = Option<String>, Query, description = "Only operations with this status: pending, processing, completed, failed, cancelled")),
    responses((status = 200, description = "`operations`, newest first", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn collection_operations(
    st: St,
    who: Who,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<StatusQuery>,
) -> Answer {
    let st = st.0;
    let ops = blocking(move || {
        Ok(st
            .collection(&who, &id, Permission::Read)?
            .operations(filter(&q))?)
    })
    .await?;
    reply(
        StatusCode::OK,
        json!({"operations": ops.iter().map(operation_json).collect::<Vec<_>>()}),
    )
}

#[utoipa::path(get, path = "/api/v2/operations", tag = "operations", params(("status" = Option<String>, Query, description = "Only operations with this status: pending, processing, completed, failed, cancelled")),
    responses((status = 200, description = "`operations` of every collection", body = Object), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn list_operations(st: St, who: Who, Query(q): Query<StatusQuery>) -> Answer {
    let st = st.0;
    let ops = blocking(move || {
        let mut ops = st.db().operations(filter(&q))?;
        ops.retain(|o| st.reads(&who, o.collection_id));
        Ok(ops)
    })
    .await?;
    reply(
        StatusCode::OK,
        json!({"operations": ops.iter().map(operation_json).collect::<Vec<_>>()}),
    )
}

#[utoipa::path(get, path = "/api/v2/operations/{id}", tag = "operations", params(("id" = String, Path, description = "The operation's id")),
    responses((status = 200, description = "The operation: status, progress, error", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody)))]
pub(crate) async fn get_operation(st: St, who: Who, UrlPath(id): UrlPath<String>) -> Answer {
    let st = st.0;
    let op = blocking(move || Ok(st.operation(&who, &id, Permission::Read)?.info())).await?;
    reply(StatusCode::OK, operation_json(&op))
}

#[utoipa::path(delete, path = "/api/v2/operations/{id}", tag = "operations", params(("id" = String, Path, description = "The operation's id")),
    responses((status = 202, description = "The operation, asked to stop at its next document", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody)))]
pub(crate) async fn cancel_operation(st: St, who: Who, UrlPath(id): UrlPath<String>) -> Answer {
    let st = st.0;
    let op = blocking(move || {
        let op = st.operation(&who, &id, Permission::Write)?;
        op.cancel();
        Ok(op.info())
    })
    .await?;
    reply(StatusCode::ACCEPTED, operation_json(&op))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcePath {
    path: PathBuf,
}

#[utoipa::path(post, path = "/api/v2/collections/{id}/operations/{kind}", tag = "operations",
    params(("id" = String, Path, description = "The collection's id"), ("kind" = String, Path, description = "index or append (no body), reindex (reindex settings), remove_source (`{\"path\"}`), retry_documents (no body)"), ("queue" = Option<bool>, Query, description = "Queue behind an active operation instead of answering 409")),
    request_body(content = Object, description = "What the operation takes, by kind", content_type = "application/json"),
    responses((status = 202, description = "The operation", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody), (status = 409, description = "A conflict: the collection has an active operation (ask `?queue=true`), or a name is taken", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn start_operation(
    st: St,
    who: Who,
    UrlPath((id, kind)): UrlPath<(String, String)>,
    Query(q): Query<Queue>,
    Body(bytes): Body,
) -> Answer {
    let st = st.0;
    // The body each kind takes, read before the collection is touched.
    enum Start {
        Append,
        Reindex(ReindexSettings),
        RemoveSource(PathBuf),
        Retry,
    }
    let start = match kind.as_str() {
        "index" | "append" => body::<serde_json::Map<String, Value>>(&bytes).and_then(|m| {
            m.is_empty()
                .then_some(Start::Append)
                .ok_or_else(|| ApiError::unprocessable(format!("{kind} takes no body")))
        })?,
        "reindex" => Start::Reindex(body(&bytes)?),
        "remove_source" => Start::RemoveSource(body::<SourcePath>(&bytes)?.path),
        "retry_documents" => Start::Retry,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!(
                    "no operation {other:?}: index, append, reindex, remove_source, retry_documents"
                ),
            ));
        }
    };
    let op = blocking(move || {
        let col = st.collection(&who, &id, Permission::Write)?;
        check_idle(&col, q.queue)?;
        let op = match start {
            Start::Append => col.append()?,
            Start::Reindex(s) => col.reindex().settings(s).start()?,
            Start::RemoveSource(p) => col.remove_source(p)?,
            Start::Retry => col.retry_failed_documents()?,
        };
        Ok(op.info())
    })
    .await?;
    reply(StatusCode::ACCEPTED, operation_json(&op))
}

/// What a search looks for: a query's text, or a vector of the collection's dimension.
enum Sought {
    Text(String),
    Vector(Vec<f32>),
}

/// A search body: the query (or vector), the core's search options beside it, and the
/// cross-encoder to rerank with (`"rerank": "org/name"`), if any.
struct SearchBody {
    sought: Sought,
    collections: Vec<String>,
    options: SearchOptions,
    rerank: Option<String>,
}

fn search_body(bytes: &Bytes, with_collections: bool) -> Result<SearchBody, ApiError> {
    let mut map: serde_json::Map<String, Value> = body(bytes)?;
    let rerank = match map.remove("rerank") {
        None | Some(Value::Null | Value::Bool(false)) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "rerank: a cross-encoder's model name, org/name",
            ));
        }
    };
    let sought = match (map.remove("query"), map.remove("vector")) {
        (Some(Value::String(q)), None) if !q.trim().is_empty() => Sought::Text(q),
        (None, Some(v)) => Sought::Vector(
            serde_json::from_value(v)
                .map_err(|_| ApiError::unprocessable("vector: a list of numbers"))?,
        ),
        _ => {
            return Err(ApiError::unprocessable(
                "query (a non-empty string) or vector (a list of numbers), one of them",
            ));
        }
    };
    // The old system's names for the core's options.
    for (old, new) in [("search_type", "mode"), ("filters", "filter")] {
        if let Some(v) = map.remove(old) {
            if map.contains_key(new) {
                return Err(ApiError::unprocessable(format!(
                    "{old} is another name for {new}: give one of them"
                )));
            }
            map.insert(new.into(), v);
        }
    }
    let collections = if with_collections {
        serde_json::from_value(map.remove("collections").unwrap_or(Value::Null))
            .map_err(|_| ApiError::unprocessable("collections: a list of collection ids"))?
    } else {
        Vec::new()
    };
    let options = SearchOptions::from_json(&Value::Object(map).to_string())?;
    Ok(SearchBody {
        sought,
        collections,
        options,
        rerank,
    })
}

#[utoipa::path(post, path = "/api/v2/collections/{id}/search", tag = "search", params(("id" = String, Path, description = "The collection's id")),
    request_body(content = Object, description = "`query` (text) or `vector` (numbers, the collection's dimension), and the search options (mode, limit, offset, fusion, filter, score_threshold, ef, exact, rerank_multiplier, max_per_document; the old system's search_type and filters are read as mode and filter), and `rerank`: a cross-encoder's model name", content_type = "application/json"),
    responses((status = 200, description = "`results`: hits, best first, scores in [0, 1]", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn search_collection(
    st: St,
    who: Who,
    UrlPath(id): UrlPath<String>,
    Body(bytes): Body,
) -> Answer {
    let b = search_body(&bytes, false)?;
    let st = st.0;
    let hits = blocking(move || {
        let col = st.collection(&who, &id, Permission::Read)?;
        let mut search = match b.sought {
            Sought::Text(q) => col.search(&q),
            Sought::Vector(v) => col.search_by_vector(v),
        };
        if let Some(name) = &b.rerank {
            search = search.rerank(st.reranker(name)?);
        }
        Ok(search.options(b.options).run()?)
    })
    .await?;
    reply(StatusCode::OK, json!({"results": hits}))
}

#[utoipa::path(post, path = "/api/v2/search", tag = "search",
    request_body(content = Object, description = "`query`, `collections` (ids) and the search options", content_type = "application/json"),
    responses((status = 200, description = "`results` merged by rank, and `failures`", body = Object), (status = 404, description = "No such collection, document or operation", body = ErrorBody), (status = 422, description = "An invalid request", body = ErrorBody)))]
pub(crate) async fn search_collections(st: St, who: Who, Body(bytes): Body) -> Answer {
    let b = search_body(&bytes, true)?;
    let (ids, options, rerank) = (b.collections, b.options, b.rerank);
    let Sought::Text(query) = b.sought else {
        return Err(ApiError::unprocessable(
            "a vector searches one collection: POST /collections/{id}/search",
        ));
    };
    let st = st.0;
    let found = blocking(move || {
        let names = ids
            .iter()
            .map(|id| Ok(st.collection(&who, id, Permission::Read)?.name()?))
            .collect::<Result<Vec<String>, ApiError>>()?;
        let mut search = st.db().search(&names, &query).options(options);
        if let Some(name) = &rerank {
            search = search.rerank(st.reranker(name)?);
        }
        Ok(search.run()?)
    })
    .await?;
    reply(
        StatusCode::OK,
        json!({"results": found.hits, "failures": found.failures}),
    )
}
