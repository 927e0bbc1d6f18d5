//! The Model Context Protocol: the same database to LLM agents, as tools. `/mcp` answers MCP's
//! streamable HTTP transport (the caller signs in as for the REST routes: `Authorization:
//! Bearer`); `semantik mcp --db PATH` speaks it over standard input and output, for an agent
//! that starts it as a local process (no sign-in: the process is the user's own).
//!
//! Tools: `list_collections`, `search` (query, collections, mode, limit, filter),
//! `get_document` (a document's text) and, only when the server allows it, `add_source`
//! (index a path below an allowed root). Each checks the caller's permission as the REST
//! routes do (`accounts::permission`).

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde::Deserialize;
use serde_json::{Value, json};

use semantik_core::accounts::Permission;
use semantik_core::{SearchOptions, SourceOptions};

use crate::api::{State, readable};
use crate::auth::Who;
use crate::error::ApiError;

/// Hits a `search` returns at most.
const MAX_LIMIT: usize = 50;
/// Characters of a document `get_document` returns at most by default.
const DEFAULT_MAX_CHARS: usize = 20_000;

/// The tools of one database.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    state: State,
    /// Whether `add_source` is offered.
    add_sources: bool,
    /// Whether callers are who the HTTP request's credential says (else: the local user).
    over_http: bool,
}

impl Tools {
    pub(crate) fn new(state: State, add_sources: bool, over_http: bool) -> Self {
        Tools {
            state,
            add_sources,
            over_http,
        }
    }

    /// The caller of a tool call: the one the `signed_in` layer found for the HTTP request,
    /// or the local user.
    fn who(&self, context: &RequestContext<RoleServer>) -> Result<Who, ApiError> {
        if !self.over_http {
            return Ok(Who::Anyone);
        }
        context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Who>())
            .cloned()
            .ok_or_else(|| ApiError::unprocessable("no signed-in HTTP request"))
    }

    fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![
            tool(
                "list_collections",
                "List the collections you may read: id, name, description, model, document and chunk counts.",
                json!({"type": "object", "properties": {}, "additionalProperties": false}),
            ),
            tool(
                "search",
                "Search collections for passages relevant to a query. Returns the best passages with their source, document id and a score in [0, 1].",
                json!({
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "What to look for, in natural language or keywords"},
                        "collections": {"type": "array", "items": {"type": "string"}, "description": "Collection names or ids (default: every collection you may read)"},
                        "mode": {"type": "string", "enum": ["semantic", "keyword", "hybrid"], "description": "hybrid (default) fuses meaning and keywords"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "Passages to return (default 5)"},
                        "filter": {"type": "object", "description": "Metadata filter, as the REST search's `filter`"}
                    },
                    "required": ["query"],
                    "additionalProperties": false
                }),
            ),
            tool(
                "get_document",
                "The extracted text of one document of a collection (from a search hit's document_id).",
                json!({
                    "type": "object",
                    "properties": {
                        "collection": {"type": "string", "description": "The collection's name or id"},
                        "document_id": {"type": "string"},
                        "max_chars": {"type": "integer", "minimum": 1, "description": "Characters to return at most (default 20000)"}
                    },
                    "required": ["collection", "document_id"],
                    "additionalProperties": false
                }),
            ),
        ];
        if self.add_sources {
            tools.push(tool(
                "add_source",
                "Index a file or folder (below the server's allowed roots) into a collection; returns the operation.",
                json!({
                    "type": "object",
                    "properties": {
                        "collection": {"type": "string", "description": "The collection's name or id"},
                        "path": {"type": "string"}
                    },
                    "required": ["collection", "path"],
                    "additionalProperties": false
                }),
            ));
        }
        tools
    }

    /// Collection `key` (a name or an id) if `who` may use it as `need` asks.
    fn collection(
        &self,
        who: &Who,
        key: &str,
        need: Permission,
    ) -> Result<semantik_core::Collection, ApiError> {
        let id = match key.parse::<semantik_core::CollectionId>() {
            Ok(id) => id.to_string(),
            Err(_) => self.state.db().collection(key)?.id().to_string(),
        };
        self.state.collection(who, &id, need)
    }

    /// Runs tool `name` for `who`.
    fn call(&self, who: &Who, name: &str, args: Value) -> Result<Value, ApiError> {
        match name {
            "list_collections" => {
                let _: Empty = parse(args)?;
                Ok(json!(
                    self.state
                        .readable_collections(who)?
                        .iter()
                        .map(|c| json!({
                            "id": c.id.to_string(),
                            "name": c.config.name,
                            "description": c.config.description,
                            "model": c.config.model,
                            "documents": c.stats.documents,
                            "chunks": c.stats.vectors,
                        }))
                        .collect::<Vec<_>>()
                ))
            }
            "search" => {
                let a: SearchArgs = parse(args)?;
                if a.query.trim().is_empty() {
                    return Err(ApiError::unprocessable("query: a non-empty string"));
                }
                let names: Vec<String> = match a.collections {
                    Some(keys) => keys
                        .iter()
                        .map(|k| Ok(self.collection(who, k, Permission::Read)?.name()?))
                        .collect::<Result<_, ApiError>>()?,
                    None => self
                        .state
                        .readable_collections(who)?
                        .into_iter()
                        .map(|c| c.config.name)
                        .collect(),
                };
                if names.is_empty() {
                    return Ok(json!({"results": [], "note": "no collection to search"}));
                }
                let mut options = json!({"limit": a.limit.unwrap_or(5).clamp(1, MAX_LIMIT)});
                if let Some(m) = a.mode {
                    options["mode"] = json!(m);
                }
                if let Some(f) = a.filter {
                    options["filter"] = f;
                }
                let options = SearchOptions::from_json(&options.to_string())?;
                let found = self
                    .state
                    .db()
                    .search(&names, &a.query)
                    .options(options)
                    .run()?;
                let results: Vec<Value> = found
                    .hits
                    .iter()
                    .map(|h| {
                        json!({
                            "collection": h.collection,
                            "document_id": h.document_id,
                            "source": h.source,
                            "score": h.score,
                            "text": h.text,
                        })
                    })
                    .collect();
                Ok(json!({"results": results, "failures": found.failures}))
            }
            "get_document" => {
                let a: DocumentArgs = parse(args)?;
                let col = self.collection(who, &a.collection, Permission::Read)?;
                let text = col.text(&a.document_id)?;
                let max = a.max_chars.unwrap_or(DEFAULT_MAX_CHARS).max(1);
                let total = text.chars().count();
                let text: String = text.chars().take(max).collect();
                Ok(
                    json!({"document_id": a.document_id, "text": text, "chars": total, "truncated": total > max}),
                )
            }
            "add_source" if self.add_sources => {
                let a: AddArgs = parse(args)?;
                let path = readable(self.state.roots(), std::path::Path::new(&a.path))?;
                let col = self.collection(who, &a.collection, Permission::Write)?;
                let op = col.add_source(&path, SourceOptions::default())?;
                Ok(crate::api::operation_json(&op.info()))
            }
            other => Err(ApiError::unprocessable(format!("no tool {other:?}"))),
        }
    }
}

fn tool(name: &'static str, description: &'static str, schema: Value) -> Tool {
    let schema = match schema {
        Value::Object(o) => o,
        _ => unreachable!("a schema is an object"),
    };
    Tool::new(name, description, Arc::new(schema))
}

fn parse<T: serde::de::DeserializeOwned>(args: Value) -> Result<T, ApiError> {
    serde_json::from_value(args).map_err(|e| ApiError::unprocessable(format!("arguments: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    collections: Option<Vec<String>>,
    mode: Option<String>,
    limit: Option<usize>,
    filter: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentArgs {
    collection: String,
    document_id: String,
    max_chars: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    collection: String,
    path: String,
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("semantik", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Semantic, keyword and hybrid search over the collections of a semantik database. \
                 list_collections first, then search; get_document reads a hit's whole document.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let who = match self.who(&context) {
            Ok(w) => w,
            Err(e) => return Ok(CallToolResult::error(vec![ContentBlock::text(e.detail)]).into()),
        };
        let name = request.name.to_string();
        let args = Value::Object(request.arguments.unwrap_or_default());
        let tools = self.clone();
        let done = tokio::task::spawn_blocking(move || tools.call(&who, &name, args))
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(match done {
            Ok(v) => CallToolResult::success(vec![ContentBlock::text(v.to_string())]),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "{} ({}): {}",
                e.status.as_u16(),
                e.code,
                e.detail
            ))]),
        }
        .into())
    }
}
