//! The embedded broker: librdkafka's mock cluster, in process, on a loopback port.
//!
//! It speaks the Kafka protocol, so `kcat -b ADDRESS` can read its topics, but it keeps data
//! in memory only (gone when wirewatch stops), keeps at most about 5 MiB per partition
//! (dropping the oldest), and has no CreateTopics call: topics are created through the mock's
//! own API here.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::mocking::MockCluster;

use super::{Error, TopicSpec};

/// A running embedded broker. Stops when dropped.
pub struct EmbeddedBroker {
    bootstrap: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts a one-broker mock cluster and creates `topics`.
    ///
    /// The cluster lives on its own thread (librdkafka's handle is not `Send`), until drop.
    pub fn start(topics: &[TopicSpec]) -> Result<EmbeddedBroker, Error> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let topics = topics.to_vec();
        let thread = std::thread::Builder::new()
            .name("embedded-broker".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                for t in &topics {
                    if let Err(e) = cluster.create_topic(&t.name, t.partitions, 1) {
                        let _ = ready_tx.send(Err(format!("creating topic {}: {e}", t.name)));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Park until told to stop (or the owner is gone).
                let _ = stop_rx.recv();
                drop(cluster);
            })
            .map_err(|e| Error::Embedded(e.to_string()))?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| Error::Embedded("the broker thread died while starting".into()))?
            .map_err(Error::Embedded)?;
        Ok(EmbeddedBroker {
            bootstrap,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The bootstrap address, e.g. `127.0.0.1:40123`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
