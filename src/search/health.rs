//! MeiliSearch health probe: when a node answers again after it did not (or at start-up, when
//! a previous process may have left retries waiting), every row of the `search_index` consumer
//! that waits for a retry is made due now (`events::worker::make_due_now`), so indexing catches
//! up within seconds of MeiliSearch coming back instead of at each row's next retry (2, 4, 8 …
//! 120 min). Started by the composition root (`server`) when MeiliSearch is configured.
//!
//! Rule: the probe only moves retry times earlier; it never delivers rows itself (the outbox
//! worker does, in commit order, so `shop.created` still creates a shop's index before its
//! products arrive).

use std::sync::Arc;
use std::time::Duration;

use super::indexing::CONSUMER;
use super::meili::MeiliEngine;
use crate::events::worker::make_due_now;
use crate::tenancy::DbPool;

/// How often the nodes are asked.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// What the probe knows of each node: reachable at the last check, or not yet checked.
#[derive(Debug, Default)]
pub struct NodeStates {
    last: Vec<Option<bool>>,
}

impl NodeStates {
    /// Records one check (a health per node) and says whether a node came back: it answers now
    /// and did not answer at the previous check, or was never checked before.
    pub fn came_back(&mut self, healthy: &[bool]) -> bool {
        self.last.resize(healthy.len(), None);
        let back =
            healthy.iter().zip(&self.last).any(|(now, before)| *now && *before != Some(true));
        self.last = healthy.iter().map(|h| Some(*h)).collect();
        back
    }

    /// Forgets the last check, so that the next healthy one counts as a recovery again (after
    /// the rows could not be made due).
    pub fn forget(&mut self) {
        self.last.clear();
    }
}

/// Runs for the life of the server.
pub async fn probe(engine: Arc<MeiliEngine>, pool: DbPool, interval: Duration) {
    let mut states = NodeStates::default();
    loop {
        let healthy = engine.nodes_healthy().await;
        if states.came_back(&healthy) {
            match make_due_now(&pool, CONSUMER).await {
                Ok(rows) => {
                    tracing::info!(rows, "MeiliSearch reachable: waiting indexing is due now")
                }
                Err(err) => {
                    tracing::warn!(error = %err, "MeiliSearch reachable, but waiting indexing could not be made due");
                    states.forget();
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::NodeStates;

    #[test]
    fn indexing_is_hurried_when_a_node_comes_back_and_only_then() {
        let mut states = NodeStates::default();
        assert!(states.came_back(&[true]), "at start-up: retries of a previous process may wait");
        assert!(!states.came_back(&[true]), "still up: nothing to hurry");
        assert!(!states.came_back(&[false]), "down: nothing can be delivered");
        assert!(!states.came_back(&[false]));
        assert!(states.came_back(&[true]), "back: the waiting rows are made due");
        assert!(!states.came_back(&[true]));
    }

    #[test]
    fn with_several_nodes_any_node_coming_back_hurries_indexing() {
        let mut states = NodeStates::default();
        assert!(!states.came_back(&[false, false]));
        assert!(!states.came_back(&[false, false]));
        assert!(states.came_back(&[false, true]));
        assert!(!states.came_back(&[false, true]));
        assert!(states.came_back(&[true, true]));
        states.forget();
        assert!(states.came_back(&[true, true]), "a failed attempt is tried again");
    }
}
