//! Events: typed notifications of operations and collections, delivered to subscribers.
//!
//! Publishing never blocks: each subscriber has a bounded queue, and when a slow subscriber's
//! queue is full its oldest non-final event is dropped (counted in
//! [`Subscription::missed`]). The event that ends an operation is never dropped. A subscriber
//! of one operation that joins late first receives the operation's recent events (a bounded
//! replay buffer) and then a snapshot of its current progress.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::{OperationId, OperationKind, Progress};
use crate::collection::{CollectionId, CollectionStatus};
use crate::error::ErrorInfo;

/// Events kept per operation for subscribers that join late.
const REPLAY_PER_OPERATION: usize = 64;
/// Operations whose replay buffers are kept.
const REPLAY_OPERATIONS: usize = 256;
/// Events a subscriber may have waiting before the oldest are dropped.
const SUBSCRIBER_CAPACITY: usize = 1024;

/// One event. `seq` increases strictly across all events of a database.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// Sequence number, strictly increasing in the order events happened.
    pub seq: u64,
    /// When the event happened.
    pub time: SystemTime,
    /// The collection concerned.
    pub collection_id: CollectionId,
    /// The operation concerned, if any.
    pub operation_id: Option<OperationId>,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// Whether this event ends its operation (completed, failed or cancelled).
    pub fn is_final(&self) -> bool {
        matches!(
            self.kind,
            EventKind::OperationCompleted { .. }
                | EventKind::OperationFailed { .. }
                | EventKind::OperationCancelled { .. }
        )
    }
}

/// What an [`Event`] reports.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An operation was accepted and waits for a worker.
    OperationQueued {
        /// Its kind.
        kind: OperationKind,
    },
    /// A worker started the operation.
    OperationStarted {
        /// Its kind.
        kind: OperationKind,
    },
    /// Progress of a running operation. Counts in it are committed and durable.
    Progress {
        /// The progress snapshot.
        progress: Progress,
    },
    /// One document failed; the operation goes on.
    DocumentFailed {
        /// The document's id.
        document_id: String,
        /// Its source path, for documents read from files.
        source: Option<String>,
        /// Why it failed.
        error: ErrorInfo,
    },
    /// The operation finished successfully (some documents may have failed).
    OperationCompleted {
        /// Final progress.
        progress: Progress,
    },
    /// The operation failed.
    OperationFailed {
        /// Why.
        error: ErrorInfo,
        /// Progress when it failed.
        progress: Progress,
    },
    /// The operation was cancelled.
    OperationCancelled {
        /// Who or what cancelled it.
        reason: String,
        /// Progress when it stopped.
        progress: Progress,
    },
    /// The collection's status changed.
    CollectionStatusChanged {
        /// The new status.
        status: CollectionStatus,
        /// Why, when there is something to say.
        message: Option<String>,
    },
}

/// Which events a subscription receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    All,
    Collection(CollectionId),
    Operation(OperationId),
}

impl Filter {
    fn matches(&self, e: &Event) -> bool {
        match self {
            Filter::All => true,
            Filter::Collection(c) => e.collection_id == *c,
            Filter::Operation(o) => e.operation_id == Some(*o),
        }
    }
}

#[derive(Debug, Default)]
struct QueueState {
    events: VecDeque<Event>,
    closed: bool,
    missed: u64,
}

#[derive(Debug)]
struct SubQueue {
    filter: Filter,
    state: Mutex<QueueState>,
    ready: Condvar,
    dropped: AtomicBool,
}

impl SubQueue {
    fn push(&self, event: Event) {
        let mut st = self.state.lock().expect("event queue lock");
        if st.closed {
            return;
        }
        if st.events.len() >= SUBSCRIBER_CAPACITY {
            // Drop the oldest event that does not end an operation.
            if let Some(pos) = st.events.iter().position(|e| !e.is_final()) {
                st.events.remove(pos);
                st.missed += 1;
            }
        }
        let ends_subscription = matches!(self.filter, Filter::Operation(_)) && event.is_final();
        st.events.push_back(event);
        if ends_subscription {
            st.closed = true;
        }
        self.ready.notify_all();
    }

    fn close(&self) {
        let mut st = self.state.lock().expect("event queue lock");
        st.closed = true;
        self.ready.notify_all();
    }
}

/// A stream of events. Iterating blocks until the next event and ends when the subscription
/// closes: after an operation's final event for an operation subscription, or when the
/// database closes. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    queue: Arc<SubQueue>,
}

impl Subscription {
    /// The next event, waiting as long as needed; `None` once the subscription is closed and
    /// drained.
    pub fn recv(&self) -> Option<Event> {
        self.recv_deadline(None)
    }

    /// The next event, waiting at most `timeout`; `None` on timeout or when closed and drained
    /// (tell them apart with [`Subscription::is_closed`]).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.recv_deadline(Some(Instant::now() + timeout))
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.queue
            .state
            .lock()
            .expect("event queue lock")
            .events
            .pop_front()
    }

    /// Whether no more events will arrive (events already queued can still be received).
    pub fn is_closed(&self) -> bool {
        self.queue.state.lock().expect("event queue lock").closed
    }

    /// How many events were dropped because this subscriber fell behind.
    pub fn missed(&self) -> u64 {
        self.queue.state.lock().expect("event queue lock").missed
    }

    fn recv_deadline(&self, deadline: Option<Instant>) -> Option<Event> {
        let mut st = self.queue.state.lock().expect("event queue lock");
        loop {
            if let Some(e) = st.events.pop_front() {
                return Some(e);
            }
            if st.closed {
                return None;
            }
            st = match deadline {
                None => self.queue.ready.wait(st).expect("event queue lock"),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    self.queue
                        .ready
                        .wait_timeout(st, d - now)
                        .expect("event queue lock")
                        .0
                }
            };
        }
    }
}

impl Iterator for Subscription {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        self.recv()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.queue.dropped.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct BusState {
    seq: u64,
    subscribers: Vec<Arc<SubQueue>>,
    replay: HashMap<OperationId, VecDeque<Event>>,
    replay_order: VecDeque<OperationId>,
    closed: bool,
}

/// Fans events out to subscribers. One lock orders publishing and subscribing, so a subscriber
/// sees every event after its replay exactly once and in order.
#[derive(Debug, Default)]
pub(crate) struct EventBus {
    state: Mutex<BusState>,
}

impl EventBus {
    /// Publishes an event and returns it.
    pub(crate) fn publish(
        &self,
        collection_id: CollectionId,
        operation_id: Option<OperationId>,
        kind: EventKind,
    ) -> Event {
        let mut st = self.state.lock().expect("event bus lock");
        st.seq += 1;
        let event = Event {
            seq: st.seq,
            time: SystemTime::now(),
            collection_id,
            operation_id,
            kind,
        };
        if let Some(op) = operation_id {
            if !st.replay.contains_key(&op) {
                st.replay_order.push_back(op);
                if st.replay_order.len() > REPLAY_OPERATIONS
                    && let Some(old) = st.replay_order.pop_front()
                {
                    st.replay.remove(&old);
                }
            }
            let buf = st.replay.entry(op).or_default();
            if buf.len() >= REPLAY_PER_OPERATION {
                buf.pop_front();
            }
            buf.push_back(event.clone());
        }
        st.subscribers.retain(|s| {
            !s.dropped.load(Ordering::Relaxed) && !s.state.lock().expect("lock").closed
        });
        for s in &st.subscribers {
            if s.filter.matches(&event) {
                s.push(event.clone());
            }
        }
        event
    }

    /// Subscribes. For an operation filter, the operation's buffered events are delivered
    /// first, then `now` (its current progress, or its final event when the buffer no longer
    /// holds it) unless the buffer already ended the operation.
    pub(crate) fn subscribe(
        &self,
        filter: Filter,
        now: Option<(CollectionId, EventKind)>,
    ) -> Subscription {
        let queue = Arc::new(SubQueue {
            filter,
            state: Mutex::new(QueueState::default()),
            ready: Condvar::new(),
            dropped: AtomicBool::new(false),
        });
        let mut st = self.state.lock().expect("event bus lock");
        if st.closed {
            queue.close();
            return Subscription { queue };
        }
        if let Filter::Operation(op) = filter {
            let past: Vec<Event> = st
                .replay
                .get(&op)
                .map(|b| b.iter().cloned().collect())
                .unwrap_or_default();
            let ended = past.iter().any(Event::is_final);
            for e in past {
                queue.push(e);
            }
            if !ended && let Some((collection_id, kind)) = now {
                st.seq += 1;
                queue.push(Event {
                    seq: st.seq,
                    time: SystemTime::now(),
                    collection_id,
                    operation_id: Some(op),
                    kind,
                });
            }
        }
        st.subscribers.push(queue.clone());
        Subscription { queue }
    }

    /// Closes every subscription (they drain what they have) and refuses new ones.
    pub(crate) fn close(&self) {
        let mut st = self.state.lock().expect("event bus lock");
        st.closed = true;
        for s in st.subscribers.drain(..) {
            s.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn ids() -> (CollectionId, OperationId) {
        (CollectionId::new(), OperationId::new())
    }

    #[test]
    fn late_subscriber_gets_replay_then_live_events_in_order() {
        let bus = EventBus::default();
        let (c, op) = ids();
        bus.publish(
            c,
            Some(op),
            EventKind::OperationQueued {
                kind: OperationKind::Append,
            },
        );
        bus.publish(
            c,
            Some(op),
            EventKind::OperationStarted {
                kind: OperationKind::Append,
            },
        );
        let sub = bus.subscribe(
            Filter::Operation(op),
            Some((
                c,
                EventKind::Progress {
                    progress: Progress::default(),
                },
            )),
        );
        bus.publish(
            c,
            Some(op),
            EventKind::Progress {
                progress: Progress::default(),
            },
        );
        bus.publish(
            c,
            Some(op),
            EventKind::OperationCompleted {
                progress: Progress::default(),
            },
        );
        bus.publish(
            c,
            Some(op),
            EventKind::Progress {
                progress: Progress::default(),
            },
        );
        let got: Vec<Event> = sub.collect();
        let kinds: Vec<&str> = got
            .iter()
            .map(|e| match e.kind {
                EventKind::OperationQueued { .. } => "queued",
                EventKind::OperationStarted { .. } => "started",
                EventKind::Progress { .. } => "progress",
                EventKind::OperationCompleted { .. } => "completed",
                _ => "other",
            })
            .collect();
        assert_eq!(
            kinds,
            ["queued", "started", "progress", "progress", "completed"]
        );
        assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    }

    #[test]
    fn slow_subscriber_loses_oldest_but_never_the_final_event() {
        let bus = EventBus::default();
        let (c, op) = ids();
        let sub = bus.subscribe(Filter::Collection(c), None);
        for _ in 0..SUBSCRIBER_CAPACITY + 10 {
            bus.publish(
                c,
                Some(op),
                EventKind::Progress {
                    progress: Progress::default(),
                },
            );
        }
        bus.publish(
            c,
            Some(op),
            EventKind::OperationFailed {
                error: ErrorInfo {
                    code: ErrorCode::Internal,
                    message: "x".into(),
                },
                progress: Progress::default(),
            },
        );
        assert_eq!(sub.missed(), 11);
        let mut last = None;
        while let Some(e) = sub.try_recv() {
            last = Some(e);
        }
        assert!(last.unwrap().is_final());
    }

    #[test]
    fn dropped_subscriber_is_pruned_and_filters_apply() {
        let bus = EventBus::default();
        let (c, op) = ids();
        let other = CollectionId::new();
        let dropped = bus.subscribe(Filter::All, None);
        drop(dropped);
        let mine = bus.subscribe(Filter::Collection(c), None);
        bus.publish(
            other,
            None,
            EventKind::CollectionStatusChanged {
                status: CollectionStatus::Ready,
                message: None,
            },
        );
        bus.publish(
            c,
            Some(op),
            EventKind::OperationQueued {
                kind: OperationKind::Delete,
            },
        );
        assert_eq!(bus.state.lock().unwrap().subscribers.len(), 1);
        assert_eq!(mine.try_recv().unwrap().collection_id, c);
        assert!(mine.try_recv().is_none());
        bus.close();
        assert!(mine.recv().is_none());
        assert!(bus.subscribe(Filter::All, None).recv().is_none());
    }
}
