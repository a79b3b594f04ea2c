//! A Kafka broker that speaks just enough of the protocol (ApiVersions and Metadata, built with
//! `kafka-protocol`) to give the answer a broker in controlled shutdown gives: a Metadata answer
//! listing no broker. librdkafka 2.12 then drops every broker it knew, and with none left it
//! never connects again (upstream issue 5301); `notify_common::rebootstrap` is the repair the
//! tests using this broker check.
//!
//! Not a broker otherwise: the group coordinator and every other request go unanswered.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

/// The one topic of the cluster.
pub const TOPIC: &str = "probe";

/// What the broker has answered so far.
#[derive(Debug, Default)]
struct Ledger {
    /// Metadata answers given, the empty one included.
    metadata: usize,
    /// When the empty answer was given.
    emptied_at: Option<Instant>,
    /// Metadata requests received after the empty answer.
    asked_again: usize,
    /// Open connections, closed when the broker "restarts".
    connections: Vec<TcpStream>,
    /// Restarts so far: a connection opened before the last one is no longer answered.
    generation: u32,
}

/// A one-node cluster on `127.0.0.1:port`; its second Metadata answer lists no broker, and it
/// then closes every connection, as a broker does shutting down, and answers again as one that
/// came back.
#[derive(Debug, Clone)]
pub struct FakeBroker {
    /// Its port on 127.0.0.1.
    pub port: u16,
    ledger: Arc<Mutex<Ledger>>,
}

impl FakeBroker {
    /// Listens on a free loopback port and answers from there on.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let broker = Self {
            port: listener.local_addr()?.port(),
            ledger: Arc::default(),
        };
        let serving = broker.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let connection = serving.clone();
                let generation = {
                    let mut ledger = connection.ledger();
                    if let Ok(copy) = stream.try_clone() {
                        ledger.connections.push(copy);
                    }
                    ledger.generation
                };
                std::thread::spawn(move || connection.serve(stream, generation));
            }
        });
        Ok(broker)
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether it gave its empty answer.
    pub fn emptied(&self) -> bool {
        self.ledger().emptied_at.is_some()
    }

    /// Metadata requests it answered after the empty answer.
    pub fn asked_again(&self) -> usize {
        self.ledger().asked_again
    }

    fn serve(&self, mut stream: TcpStream, generation: u32) {
        loop {
            let mut size = [0u8; 4];
            if stream.read_exact(&mut size).is_err() {
                return;
            }
            let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
            if frame.len() < 8 || stream.read_exact(&mut frame).is_err() {
                return;
            }
            let api_key = i16::from_be_bytes([frame[0], frame[1]]);
            let version = i16::from_be_bytes([frame[2], frame[3]]);
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            let Ok(key) = ApiKey::try_from(api_key) else {
                return;
            };
            if self.ledger().generation != generation {
                // a connection from before the restart: the broker that had it is gone
                return;
            }
            let mut body = BytesMut::new();
            let (encoded, restart) = match key {
                ApiKey::ApiVersions => (api_versions().encode(&mut body, version), false),
                ApiKey::Metadata => {
                    let empty = self.next_metadata_is_empty();
                    (self.metadata(empty).encode(&mut body, version), empty)
                }
                // the group coordinator and the rest are never answered: not needed here
                _ => continue,
            };
            if encoded.is_err() {
                return;
            }
            let mut header = BytesMut::new();
            let header_version = key.response_header_version(version);
            if ResponseHeader::default()
                .with_correlation_id(correlation_id)
                .encode(&mut header, header_version)
                .is_err()
            {
                return;
            }
            let mut out = BytesMut::new();
            out.put_u32(u32::try_from(header.len() + body.len()).unwrap_or(u32::MAX));
            out.extend_from_slice(&header);
            out.extend_from_slice(&body);
            if stream.write_all(&out).is_err() {
                return;
            }
            if restart {
                // as the broker does after its last answers: every connection closes
                // as the broker does right after its last answers: every connection closes,
                // and nothing more is answered on any of them
                let mut ledger = self.ledger();
                ledger.generation += 1;
                for connection in ledger.connections.drain(..) {
                    let _ = connection.shutdown(Shutdown::Both);
                }
                return;
            }
        }
    }

    /// The second answer lists no broker; every answer after it (only connections opened after
    /// it are answered) is counted as asked again.
    fn next_metadata_is_empty(&self) -> bool {
        let mut ledger = self.ledger();
        ledger.metadata += 1;
        if ledger.emptied_at.is_some() {
            ledger.asked_again += 1;
            return false;
        }
        if ledger.metadata == 2 {
            ledger.emptied_at = Some(Instant::now());
            return true;
        }
        false
    }

    fn metadata(&self, empty: bool) -> MetadataResponse {
        let brokers = if empty {
            Vec::new()
        } else {
            vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(i32::from(self.port))]
        };
        // while it shuts down the broker leads no partition
        let (leader, error) = if empty { (-1, 5) } else { (1, 0) };
        let partition = MetadataResponsePartition::default()
            .with_error_code(error)
            .with_partition_index(0)
            .with_leader_id(BrokerId(leader))
            .with_replica_nodes(vec![BrokerId(1)])
            .with_isr_nodes(vec![BrokerId(1)]);
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_cluster_id(Some(StrBytes::from_static_str("fake-cluster")))
            .with_controller_id(BrokerId(1))
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
                .with_partitions(vec![partition])])
    }
}

/// ApiVersions and Metadata, at the versions librdkafka 2.12 asks for.
fn api_versions() -> ApiVersionsResponse {
    let version = |key: ApiKey, max: i16| {
        ApiVersion::default()
            .with_api_key(key as i16)
            .with_min_version(0)
            .with_max_version(max)
    };
    ApiVersionsResponse::default().with_api_keys(vec![
        version(ApiKey::ApiVersions, 3),
        version(ApiKey::Metadata, 12),
    ])
}
