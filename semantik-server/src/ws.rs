//! `/ws`: live events. A client subscribes to collections and operations
//! (`{"type": "subscribe_collection", "collection_id": ..}`, `subscribe_operation` with
//! `operation_id`, `unsubscribe` with either, `ping`); each subscription is answered with a
//! `current_state` snapshot, then the events that concern it follow as `{timestamp, type,
//! data}`. Progress is sent at most every [`PROGRESS_EVERY`] per operation; a client too slow
//! to read loses progress events, never a final one, and is told how many events it missed (of
//! the database's, so at most that many of its own).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use axum::http::HeaderMap;
use semantik_core::accounts::Permission;
use semantik_core::{CollectionId, Event, OperationId};

use crate::api::{State, collection_json, operation_json, seconds};
use crate::auth::Who;
use crate::error::ApiError;

/// Progress events of one operation sent at most this often.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Subscriptions one connection may hold.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 256;
/// Events waiting for a slow client before progress events are dropped.
const BACKLOG: usize = 256;

pub(crate) async fn upgrade(
    axum::extract::State(state): axum::extract::State<State>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let who = state.caller_of(&headers);
    // The credential's subprotocol is echoed, as a browser requires of an offered one.
    let offered: Vec<String> = crate::auth::subprotocol_token(&headers)
        .map(|t| format!("access_token.{t}"))
        .into_iter()
        .collect();
    let stopped = state.stopped();
    ws.max_message_size(64 * 1024)
        .protocols(offered)
        .on_upgrade(move |mut socket| async move {
            match who {
                Ok(who) => connection(state, who, socket, stopped).await,
                Err(e) => {
                    let _ = socket
                        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                            code: 1008,
                            reason: e.detail.chars().take(120).collect::<String>().into(),
                        })))
                        .await;
                }
            }
        })
}

/// An outgoing message.
fn message(kind: &str, data: Value) -> Message {
    let body = json!({"timestamp": seconds(SystemTime::now()), "type": kind, "data": data});
    Message::Text(body.to_string().into())
}

/// The message of a library event.
fn event_message(e: &Event) -> Message {
    let mut data = serde_json::to_value(&e.kind).unwrap_or(Value::Null);
    let kind = data
        .as_object_mut()
        .and_then(|o| o.remove("type"))
        .and_then(|t| t.as_str().map(str::to_string))
        .unwrap_or_default();
    if let Some(o) = data.as_object_mut() {
        o.insert("collection_id".into(), json!(e.collection_id.to_string()));
        o.insert(
            "operation_id".into(),
            json!(e.operation_id.map(|o| o.to_string())),
        );
        o.insert("seq".into(), json!(e.seq));
    }
    let body = json!({"timestamp": seconds(e.time), "type": kind, "data": data});
    Message::Text(body.to_string().into())
}

#[derive(Default)]
struct Subscriptions {
    collections: HashSet<CollectionId>,
    operations: HashSet<OperationId>,
}

impl Subscriptions {
    fn len(&self) -> usize {
        self.collections.len() + self.operations.len()
    }

    fn wants(&self, e: &Event) -> bool {
        self.collections.contains(&e.collection_id)
            || e.operation_id.is_some_and(|o| self.operations.contains(&o))
    }
}

/// Serves one connection until the client leaves.
async fn connection(
    state: State,
    who: Who,
    mut socket: WebSocket,
    stopped: impl Future<Output = ()>,
) {
    let db = state.db();
    let mut stopped = std::pin::pin!(stopped);
    // The database's events, read on a blocking thread, passed on through a bounded channel
    // (progress dropped when it is full; final events always waited for).
    let (tx, mut rx) = mpsc::channel::<Result<Event, u64>>(BACKLOG);
    let events = db.events();
    let pump = tokio::task::spawn_blocking(move || {
        // Events lost so far: by the library's queue (`seen`) and not yet told (`untold`,
        // which counts this channel's drops too).
        let (mut seen, mut untold) = (0u64, 0u64);
        loop {
            if tx.is_closed() {
                return;
            }
            let Some(e) = events.recv_timeout(Duration::from_millis(200)) else {
                if events.is_closed() {
                    return;
                }
                continue;
            };
            let lost = events.missed();
            untold += lost.saturating_sub(seen);
            seen = seen.max(lost);
            if matches!(e.kind, semantik_core::EventKind::Progress { .. }) {
                if untold > 0 && tx.try_send(Err(untold)).is_ok() {
                    untold = 0;
                }
                if tx.try_send(Ok(e)).is_err() {
                    untold += 1;
                }
                continue;
            }
            if untold > 0 {
                if tx.blocking_send(Err(untold)).is_err() {
                    return;
                }
                untold = 0;
            }
            if tx.blocking_send(Ok(e)).is_err() {
                return;
            }
        }
    });
    let mut subs = Subscriptions::default();
    let mut last_progress: HashMap<OperationId, Instant> = HashMap::new();
    loop {
        tokio::select! {
            () = &mut stopped => {
                let _ = socket.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: 1001,
                    reason: "server stopping".into(),
                }))).await;
                break;
            }
            incoming = socket.recv() => {
                let Some(Ok(msg)) = incoming else { break };
                let reply = match msg {
                    Message::Text(t) => command(&state, &who, &mut subs, t.as_str()).await,
                    Message::Close(_) => break,
                    _ => continue,
                };
                if socket.send(reply).await.is_err() {
                    break;
                }
            }
            event = rx.recv() => {
                let out = match event {
                    None => break,
                    Some(Err(n)) => message("missed", json!({"count": n})),
                    Some(Ok(e)) => {
                        if !subs.wants(&e) {
                            continue;
                        }
                        if let (semantik_core::EventKind::Progress { .. }, Some(op)) = (&e.kind, e.operation_id) {
                            let now = Instant::now();
                            if last_progress.get(&op).is_some_and(|t| now.duration_since(*t) < PROGRESS_EVERY) {
                                continue;
                            }
                            last_progress.insert(op, now);
                        } else if let Some(op) = e.operation_id.filter(|_| e.is_final()) {
                            last_progress.remove(&op);
                        }
                        event_message(&e)
                    }
                };
                if socket.send(out).await.is_err() {
                    break;
                }
            }
        }
    }
    drop(rx);
    let _ = pump.await;
}

fn error(detail: impl Into<String>) -> Message {
    message("error", json!({"detail": detail.into()}))
}

/// Applies one client command; returns the answer.
async fn command(state: &State, who: &Who, subs: &mut Subscriptions, text: &str) -> Message {
    let Ok(Value::Object(cmd)) = serde_json::from_str::<Value>(text) else {
        return error("a command is a JSON object with a \"type\"");
    };
    let id = |key: &str| cmd.get(key).and_then(Value::as_str).map(str::to_string);
    match cmd.get("type").and_then(Value::as_str).unwrap_or("") {
        "ping" => message("pong", json!({})),
        kind @ ("subscribe_collection" | "subscribe_operation") => {
            if subs.len() >= MAX_SUBSCRIPTIONS {
                return error(format!(
                    "at most {MAX_SUBSCRIPTIONS} subscriptions per connection"
                ));
            }
            let collection = kind == "subscribe_collection";
            let key = if collection {
                "collection_id"
            } else {
                "operation_id"
            };
            let Some(raw) = id(key) else {
                return error(format!("{kind} needs {key}"));
            };
            let (state, who) = (state.clone(), who.clone());
            let snapshot = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
                if collection {
                    let col = state.collection(&who, &raw, Permission::Read)?;
                    let active: Vec<Value> = col
                        .operations(semantik_core::OperationFilter::all())?
                        .iter()
                        .filter(|o| !o.status.is_terminal())
                        .map(operation_json)
                        .collect();
                    Ok((
                        Some(col.id()),
                        None,
                        json!({"collection": collection_json(&col.info()?), "active_operations": active}),
                    ))
                } else {
                    let op = state.operation(&who, &raw, Permission::Read)?.info();
                    Ok((None, Some(op.id), json!({"operation": operation_json(&op)})))
                }
            })
            .await;
            match snapshot {
                Ok(Ok((c, o, data))) => {
                    subs.collections.extend(c);
                    subs.operations.extend(o);
                    message("current_state", data)
                }
                Ok(Err(e)) => error(e.detail),
                Err(e) => error(e.to_string()),
            }
        }
        "unsubscribe" => {
            if let Some(c) = id("collection_id").and_then(|c| c.parse().ok()) {
                subs.collections.remove(&c);
            }
            if let Some(o) = id("operation_id").and_then(|o| o.parse().ok()) {
                subs.operations.remove(&o);
            }
            message("unsubscribed", json!({"subscriptions": subs.len()}))
        }
        other => error(format!(
            "unknown command {other:?}: subscribe_collection, subscribe_operation, unsubscribe, ping"
        )),
    }
}
