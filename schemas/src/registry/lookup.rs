//! The registry as a [`SchemaLookup`] for the codecs, and the codecs a stage builds from it.
//!
//! The codec asks its lookup synchronously, while a registry answers over the network; so a
//! consumer first awaits [`StageSchemas::prefetch`] for each record (a no-op for single-object
//! records and for ids already known), which fetches the writer schema the record names, and
//! then decodes. Guarantees: a fetched schema is kept for the life of the process (registry ids
//! never change meaning); an id the registry says it does not have is remembered for
//! [`ABSENT_FOR`] and then asked again, at most [`ABSENT_MAX`] of them, so a flood of records
//! naming unknown ids costs one request per id and per period, not one per record. Fetches
//! are made one at a time: records naming the same new id at once cause one request. A registry
//! that cannot answer leaves the id unknown and `prefetch` fails with a transient error: the
//! caller waits and tries again; it never decides the record is bad.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use apache_avro::Schema;

use crate::codec::Codec;
use crate::contract::Record;
use crate::error::CodecError;
use crate::framing::{self, Header};
use crate::lookup::{LookupError, SchemaLookup};
use crate::registry::client::{RegistryClient, RegistryError};
use crate::registry::subject_for;

/// How long an id the registry did not have is answered as unknown without asking again.
pub const ABSENT_FOR: Duration = Duration::from_secs(30);
/// Most unknown ids remembered at once.
pub const ABSENT_MAX: usize = 1024;

/// Writer schemas fetched from a registry by id.
#[derive(Debug)]
pub struct RegistryLookup {
    client: RegistryClient,
    known: RwLock<HashMap<u32, Schema>>,
    absent: RwLock<HashMap<u32, Instant>>,
    /// One fetch at a time: a batch of records naming a new id asks the registry once, not
    /// once per record (hundreds of requests at once would overload it).
    fetching: tokio::sync::Mutex<()>,
}

impl RegistryLookup {
    /// A lookup asking `client`.
    pub fn new(client: RegistryClient) -> Self {
        Self {
            client,
            known: RwLock::default(),
            absent: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The client asked.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// Fetches the writer schema of `schema_id` unless it is known or recently found absent.
    pub async fn fetch(&self, schema_id: u32) -> Result<(), RegistryError> {
        if self.is_known(schema_id) || self.recently_absent(schema_id) {
            return Ok(());
        }
        let _turn = self.fetching.lock().await;
        // another record's fetch may have answered while this one waited its turn
        if self.is_known(schema_id) || self.recently_absent(schema_id) {
            return Ok(());
        }
        let parsed = self
            .client
            .schema_by_id(schema_id)
            .await?
            // a schema the registry holds but Avro cannot parse names no readable record
            .and_then(|text| Schema::parse_str(&text).ok());
        match parsed {
            Some(schema) => {
                write(&self.known).insert(schema_id, schema);
                write(&self.absent).remove(&schema_id);
            }
            None => {
                let mut absent = write(&self.absent);
                if absent.len() >= ABSENT_MAX {
                    absent.retain(|_, since| since.elapsed() < ABSENT_FOR);
                    if absent.len() >= ABSENT_MAX {
                        absent.clear();
                    }
                }
                absent.insert(schema_id, Instant::now());
            }
        }
        Ok(())
    }

    fn is_known(&self, schema_id: u32) -> bool {
        read(&self.known).contains_key(&schema_id)
    }

    fn recently_absent(&self, schema_id: u32) -> bool {
        read(&self.absent)
            .get(&schema_id)
            .is_some_and(|since| since.elapsed() < ABSENT_FOR)
    }
}

impl SchemaLookup for RegistryLookup {
    fn writer_schema(&self, schema_id: u32) -> Result<Option<Schema>, LookupError> {
        if let Some(schema) = read(&self.known).get(&schema_id) {
            return Ok(Some(schema.clone()));
        }
        if read(&self.absent).contains_key(&schema_id) {
            return Ok(None);
        }
        Err(LookupError(format!(
            "schema id {schema_id} was not fetched from the registry yet"
        )))
    }
}

/// The codecs of one stage: with a registry they read Confluent-framed records through it and
/// write Confluent framing for the record types asked for; without one they are the plain
/// single-object codecs. `Default` is "no registry".
#[derive(Debug, Clone, Default)]
pub struct StageSchemas {
    lookup: Option<Arc<RegistryLookup>>,
    writes: HashMap<&'static str, u32>,
}

impl StageSchemas {
    /// Codecs reading through `lookup`, writing single-object until told otherwise.
    pub fn with_registry(lookup: Arc<RegistryLookup>) -> Self {
        Self {
            lookup: Some(lookup),
            writes: HashMap::new(),
        }
    }

    /// Whether a registry is attached.
    pub fn has_registry(&self) -> bool {
        self.lookup.is_some()
    }

    /// Write `T` with Confluent framing: resolves the id of `T`'s schema under each of
    /// `topics`' subjects (`<topic>-value`), which must all be registered and name one id.
    pub async fn write_confluent<T: Record>(
        mut self,
        topics: &[String],
    ) -> Result<Self, SchemaSetupError> {
        let Some(lookup) = &self.lookup else {
            return Err(SchemaSetupError::NoRegistry);
        };
        let mut found: Option<(u32, String)> = None;
        for topic in topics {
            let subject = subject_for(topic);
            let id = lookup
                .client
                .id_under(&subject, T::schema_json())
                .await?
                .ok_or_else(|| SchemaSetupError::NotRegistered {
                    record: T::FULL_NAME,
                    subject: subject.clone(),
                })?;
            match &found {
                Some((first, first_subject)) if *first != id => {
                    return Err(SchemaSetupError::SplitIds {
                        record: T::FULL_NAME,
                        first: format!("{first_subject} = {first}"),
                        second: format!("{subject} = {id}"),
                    })
                }
                Some(_) => {}
                None => found = Some((id, subject)),
            }
        }
        if let Some((id, _)) = found {
            self.writes.insert(T::FULL_NAME, id);
        }
        Ok(self)
    }

    /// The registry id written for `T`, if it is written with Confluent framing.
    pub fn confluent_id<T: Record>(&self) -> Option<u32> {
        self.writes.get(T::FULL_NAME).copied()
    }

    /// A codec of `T` as configured.
    pub fn codec<T: Record>(&self) -> Result<Codec<T>, CodecError> {
        let mut codec = Codec::new()?;
        if let Some(lookup) = &self.lookup {
            codec = codec.with_schema_lookup(Arc::clone(lookup) as Arc<dyn SchemaLookup>);
        }
        if let Some(id) = self.confluent_id::<T>() {
            codec = codec.with_confluent_writes(id);
        }
        Ok(codec)
    }

    /// Makes the writer schema `payload` names known to the codecs, if it is Confluent-framed
    /// and a registry is attached; see the module docs.
    pub async fn prefetch(&self, payload: &[u8]) -> Result<(), RegistryError> {
        match (&self.lookup, framing::split(payload)) {
            (Some(lookup), Ok((Header::Confluent { schema_id }, _))) => {
                lookup.fetch(schema_id).await
            }
            _ => Ok(()),
        }
    }
}

/// Why a stage could not set up its registry framing at start.
#[derive(Debug, thiserror::Error)]
pub enum SchemaSetupError {
    /// Confluent framing was asked for without a registry.
    #[error("confluent framing needs a schema registry (schema_registry.url)")]
    NoRegistry,
    /// The registry's credentials could not be read.
    #[error("schema registry credentials: {0}")]
    Credentials(String),
    /// The registry could not be asked.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The stage's schema is not registered under a subject it writes.
    #[error(
        "the current {record} schema is not registered under {subject}: run `notify schemas register`"
    )]
    NotRegistered {
        /// The record type.
        record: &'static str,
        /// The subject asked.
        subject: String,
    },
    /// The same schema has different ids under two subjects.
    #[error("the {record} schema has two registry ids ({first}, {second}); one is needed")]
    SplitIds {
        /// The record type.
        record: &'static str,
        /// The first subject and its id.
        first: String,
        /// The differing one.
        second: String,
    },
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::registry::RegistrySettings;

    /// A registry answering every request with `body` after `delay`; how many it got.
    async fn slow_registry(body: String, delay: Duration) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let body = body.clone();
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    if socket.read(&mut buffer).await.unwrap_or(0) == 0 {
                        return;
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, requests)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_naming_one_new_id_at_once_ask_the_registry_once() {
        let schema = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let body = serde_json::json!({ "schema": schema }).to_string();
        let (url, requests) = slow_registry(body, Duration::from_millis(200)).await;
        let client = RegistryClient::new(&RegistrySettings {
            url,
            timeout: Duration::from_secs(5),
            retries: 0,
            basic_auth: None,
        })
        .unwrap();
        let lookup = Arc::new(RegistryLookup::new(client));
        let schemas = StageSchemas::with_registry(Arc::clone(&lookup));
        let mut framed = crate::framing::confluent_header(7).to_vec();
        framed.push(2);
        // polled together, as the router polls a batch's records
        let fetches = (0..200).map(|_| schemas.prefetch(&framed));
        for result in futures::future::join_all(fetches).await {
            result.unwrap();
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1);
        assert!(lookup.writer_schema(7).unwrap().is_some());
    }
}
