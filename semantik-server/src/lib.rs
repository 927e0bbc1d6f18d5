//! semantik as a server: the collection-centric REST v2 API over a [`Database`], as a library a
//! Rust host can mount ([`Server::router`]) or run ([`Server::run`], what `semantik serve`
//! does). Every handler calls the public API of `semantik-core` on a blocking thread.
//!
//! `/ws` streams the events of the collections and operations a client subscribes to.
//!
//! `/openapi.json` is the OpenAPI 3.1 document of the routes, generated from their code.
//!
//! Callers sign in (`/api/v1/auth`) and use their access token or an API key; each collection
//! is read, written or administered by whom its access allows (`semantik_core::accounts`). A
//! server without accounts ([`ServerConfig::without_accounts`], `--no-auth`) binds loopback
//! addresses only.
//!
//! `/mcp` answers the Model Context Protocol (streamable HTTP) with tools to list collections,
//! search and read documents; [`Server::run_mcp_stdio`] serves the same tools over standard
//! input and output.
//!
//! ```no_run
//! use semantik_server::{Server, ServerConfig};
//! let db = semantik_core::Database::open("/tmp/semantik-db")?;
//! let config = ServerConfig::new("127.0.0.1:8080".parse()?).allow_root("/srv/docs");
//! Server::new(db, config)?.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api;
mod auth;
mod error;
mod limit;
mod mcp;
mod openapi;
mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use semantik_core::Database;

pub use error::ApiError;

/// How a server is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// Folders whose files clients may index by path (none by default: no path is readable).
    pub allow_roots: Vec<PathBuf>,
    /// Whether callers sign in (default); without, everyone may do everything, so the server
    /// binds loopback only.
    pub accounts: bool,
    /// How long an access token is good for (default 15 minutes).
    pub access_token_lifetime: std::time::Duration,
    /// Collections each user may own (`None`: only the database's own limit).
    pub max_collections_per_user: Option<usize>,
    /// Whether the MCP tools include `add_source` (off by default: agents only read).
    pub mcp_add_sources: bool,
    /// Requests a second each caller may make (bursts of twice that); more are 429. `None`
    /// (the default): no limit.
    pub rate_limit: Option<std::num::NonZeroU32>,
}

impl ServerConfig {
    /// Listens on `bind`, with no readable root.
    pub fn new(bind: SocketAddr) -> Self {
        ServerConfig {
            bind,
            allow_roots: Vec::new(),
            accounts: true,
            access_token_lifetime: auth::DEFAULT_ACCESS_TOKEN_LIFETIME,
            max_collections_per_user: None,
            mcp_add_sources: false,
            rate_limit: None,
        }
    }

    /// Lets each caller (each credential; those without one together) make at most
    /// `per_second` requests a second, in bursts of up to twice that; more are 429.
    pub fn rate_limit(mut self, per_second: std::num::NonZeroU32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Offers agents the MCP tool `add_source` (paths below the allowed roots only).
    pub fn mcp_add_sources(mut self) -> Self {
        self.mcp_add_sources = true;
        self
    }

    /// Lets each user own at most `n` collections.
    pub fn max_collections_per_user(mut self, n: usize) -> Self {
        self.max_collections_per_user = Some(n);
        self
    }

    /// Lets every caller do everything, without signing in (loopback binds only).
    pub fn without_accounts(mut self) -> Self {
        self.accounts = false;
        self
    }

    /// Sets how long an access token is good for.
    pub fn access_token_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }

    /// Lets clients index files at or below `root`.
    pub fn allow_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.allow_roots.push(root.into());
        self
    }
}

/// The server of one database.
#[derive(Debug)]
pub struct Server {
    db: Database,
    config: ServerConfig,
    /// Set when the server stops: long-lived connections (WebSockets) end then.
    stopping: tokio::sync::watch::Sender<bool>,
    auth: Option<Arc<auth::Auth>>,
}

impl Server {
    /// A server of `db`.
    ///
    /// # Errors
    /// [`ApiError`] (422) for a server without accounts on an address that is not loopback,
    /// or an allowed root that does not exist; the database's errors.
    pub fn new(db: Database, mut config: ServerConfig) -> Result<Server, ApiError> {
        if !config.accounts && !config.bind.ip().is_loopback() {
            return Err(ApiError::unprocessable(format!(
                "{} is not a loopback address: without accounts the server binds loopback only",
                config.bind
            )));
        }
        for root in &mut config.allow_roots {
            *root = root.canonicalize().map_err(|e| {
                ApiError::unprocessable(format!("allowed root {}: {e}", root.display()))
            })?;
        }
        let auth = if config.accounts {
            Some(Arc::new(auth::Auth::new(db.accounts(), &config)?))
        } else {
            None
        };
        Ok(Server {
            db,
            config,
            auth,
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    fn state(&self) -> api::State {
        api::State::new(
            self.db.clone(),
            self.config.allow_roots.clone(),
            self.stopping.subscribe(),
            self.auth.clone(),
        )
    }

    /// The routes, for a host that serves them itself: REST, `/ws`, `/openapi.json` and MCP's
    /// streamable HTTP at `/mcp`.
    pub fn router(&self) -> axum::Router {
        use rmcp::transport::streamable_http_server::{
            StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
        };
        let state = self.state();
        let tools = mcp::Tools::new(state.clone(), self.config.mcp_add_sources, true);
        let mut config =
            StreamableHttpServerConfig::default().with_max_request_body_bytes(api::MAX_BODY);
        if !self.config.bind.ip().is_loopback() {
            // Reached by other names than localhost; the credential guards it.
            config = config.disable_allowed_hosts();
        }
        let mcp = StreamableHttpService::new(
            move || Ok(tools.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let mcp = axum::Router::new().nest_service("/mcp", mcp).layer(
            axum::middleware::from_fn_with_state(state.clone(), auth::signed_in),
        );
        let router = api::router(state).merge(mcp);
        match self.config.rate_limit {
            Some(n) => router.layer(axum::middleware::from_fn_with_state(
                limit::Limits::new(n),
                limit::limit,
            )),
            None => router,
        }
    }

    /// Serves the MCP tools over standard input and output until the client closes them (what
    /// `semantik mcp` does), as the local user: no sign-in, every collection.
    ///
    /// # Errors
    /// The transport fails; the database's final flush fails.
    pub fn run_mcp_stdio(self) -> std::io::Result<()> {
        use rmcp::ServiceExt;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let tools = mcp::Tools::new(self.state(), self.config.mcp_add_sources, false);
        runtime.block_on(async {
            let service = tools
                .serve(rmcp::transport::stdio())
                .await
                .map_err(std::io::Error::other)?;
            service.waiting().await.map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(())
        })?;
        self.db.close().map_err(std::io::Error::other)
    }

    /// Serves until Ctrl-C or SIGTERM, then stops taking requests, lets those under way end,
    /// and closes the database (running operations are cancelled as [`Database::close`] does).
    /// Prints `listening on ADDRESS` to standard output once it accepts connections.
    ///
    /// # Errors
    /// The address cannot be bound; the database's final flush fails.
    pub fn run(self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(self.config.bind).await?;
            println!("listening on {}", listener.local_addr()?);
            serve(listener, self.router(), &self.stopping).await;
            Ok::<_, std::io::Error>(())
        })?;
        tracing::info!("shut down; closing the database");
        self.db.close().map_err(std::io::Error::other)
    }
}

/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 1024;
/// A request's headers must arrive within this, or its connection is closed (slow clients
/// cannot hold connections open by trickling bytes).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long connections under way may take to finish once the server stops.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Accepts HTTP/1.1 connections (WebSockets upgraded) until a stop signal, then lets those
/// under way finish their requests.
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    stopping: &tokio::sync::watch::Sender<bool>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut signal = std::pin::pin!(shutdown_signal());
    loop {
        let slot = tokio::select! {
            () = &mut signal => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let conn = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stop = stopping.subscribe();
        tasks.spawn(async move {
            let _slot = slot;
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    stopping.send_replace(true);
    let drained = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!("connections still open after {DRAIN:?}; closing them");
        tasks.shutdown().await;
    }
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
