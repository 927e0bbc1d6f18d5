//! semantik as a server: the collection-centric REST v2 API over a [`Database`], as a library a
//! Rust host can mount ([`Server::router`]) or run ([`Server::run`], what `semantik serve`
//! does). Every handler calls the public API of `semantik-core` on a blocking thread.
//!
//! `/ws` streams the events of the collections and operations a client subscribes to.
//!
//! `/openapi.json` is the OpenAPI 3.1 document of the routes, generated from their code.
//!
//! Not here yet (issue 20): accounts and permissions, and MCP. Until accounts exist, a server
//! binds loopback addresses only.
//!
//! ```no_run
//! use semantik_server::{Server, ServerConfig};
//! let db = semantik_core::Database::open("/tmp/semantik-db")?;
//! let config = ServerConfig::new("127.0.0.1:8080".parse()?).allow_root("/srv/docs");
//! Server::new(db, config)?.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api;
mod error;
mod openapi;
mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;

use semantik_core::Database;

pub use error::ApiError;

/// How a server is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The address to listen on (loopback only, until accounts exist).
    pub bind: SocketAddr,
    /// Folders whose files clients may index by path (none by default: no path is readable).
    pub allow_roots: Vec<PathBuf>,
}

impl ServerConfig {
    /// Listens on `bind`, with no readable root.
    pub fn new(bind: SocketAddr) -> Self {
        ServerConfig {
            bind,
            allow_roots: Vec::new(),
        }
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
}

impl Server {
    /// A server of `db`.
    ///
    /// # Errors
    /// [`ApiError`] (422) for a bind address that is not loopback (there are no accounts yet,
    /// so nothing else may reach the server) or an allowed root that does not exist.
    pub fn new(db: Database, mut config: ServerConfig) -> Result<Server, ApiError> {
        if !config.bind.ip().is_loopback() {
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
        Ok(Server {
            db,
            config,
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    /// The routes, for a host that serves them itself.
    pub fn router(&self) -> axum::Router {
        api::router(api::State::new(
            self.db.clone(),
            self.config.allow_roots.clone(),
            self.stopping.subscribe(),
        ))
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
            let stopping = self.stopping.clone();
            axum::serve(listener, self.router())
                .with_graceful_shutdown(async move {
                    shutdown_signal().await;
                    stopping.send_replace(true);
                })
                .await
        })?;
        tracing::info!("shut down; closing the database");
        self.db.close().map_err(std::io::Error::other)
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
