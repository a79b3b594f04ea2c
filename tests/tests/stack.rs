//! The first real-stack tests: Avro records through a real Kafka broker and consumer group,
//! and the schema plus prepared statements against a real Cassandra node.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use notify_common::kafka::{self, TopicOutcome};
use notify_common::topics::{layout, TopicSpec};
use notify_it::{kafka_config, poll_until, produce, store_config, unique};
use notify_schemas::{samples, Codec, NotificationRequest, Uuid};
use notify_store::MIGRATIONS;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

const RECORDS: usize = 30;

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn avro_requests_round_trip_through_a_real_broker_and_consumer_group() {
    let config = kafka_config();
    let topic = format!("{}.requests", config.topic_prefix);
    let admin = kafka::admin(&config, "it").expect("admin client");
    let spec = TopicSpec {
        name: topic.clone(),
        partitions: 3,
        config: vec![],
    };
    let timeout = Duration::from_secs(30);
    let created = kafka::ensure_topics(&admin, &[spec], 1, timeout)
        .await
        .expect("create topic");
    assert_eq!(created, vec![(topic.clone(), TopicOutcome::Created)]);

    // three users, ten requests each, keyed tenant:user as ingest does
    let codec = Codec::<NotificationRequest>::new().expect("codec");
    let producer = kafka::producer(&config, "it").expect("producer");
    let mut sent = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let mut request = samples::full_request();
        request.event_id = Uuid::new_v4();
        request.user_id = format!("user-{}", i % 3);
        request.created_at += i64::try_from(i).expect("small");
        let key = format!("{}:{}", request.tenant, request.user_id);
        let payload = codec.encode(&request).expect("encode");
        produce(&producer, &topic, &key, &payload).await;
        sent.push(request);
    }

    let group = unique("it-group");
    let consumer = kafka::consumer(&config, "it", &group, &[&topic]).expect("consumer");
    let mut received: BTreeMap<String, Vec<NotificationRequest>> = BTreeMap::new();
    let mut partitions_of_user: BTreeMap<String, HashSet<i32>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut count = 0;
    while count < RECORDS {
        let Ok(message) = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {count} of {RECORDS} records arrived within 60 s"))
        else {
            // a topic created moments ago may not be known to the consumer yet
            continue;
        };
        let request = codec
            .decode(message.payload().expect("payload"))
            .expect("decode");
        assert_eq!(
            message.key(),
            Some(format!("{}:{}", request.tenant, request.user_id).as_bytes()),
            "key is tenant:user"
        );
        partitions_of_user
            .entry(request.user_id.clone())
            .or_default()
            .insert(message.partition());
        received
            .entry(request.user_id.clone())
            .or_default()
            .push(request);
        consumer
            .store_offset_from_message(&message)
            .expect("store offset");
        count += 1;
    }

    // every record arrived intact, and each user's records kept their order on one partition
    for (user, requests) in &received {
        let expected: Vec<_> = sent
            .iter()
            .filter(|r| &r.user_id == user)
            .cloned()
            .collect();
        assert_eq!(
            requests, &expected,
            "records of {user} differ or are out of order"
        );
        assert_eq!(
            partitions_of_user[user].len(),
            1,
            "{user} spread over several partitions"
        );
    }
    assert_eq!(received.values().map(Vec::len).sum::<usize>(), RECORDS);

    // the group's committed offsets cover everything consumed: a new member of the group
    // starts after them
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..3 {
        assignment.add_partition(&topic, partition);
    }
    let committed = consumer
        .committed_offsets(assignment, timeout)
        .expect("committed offsets");
    let total: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(next) => next,
            // a partition no user hashed to has nothing committed
            Offset::Invalid => 0,
            other => panic!("unexpected committed offset {other:?}"),
        })
        .sum();
    assert_eq!(total, i64::try_from(RECORDS).expect("small"));

    admin
        .delete_topics(&[&topic], &rdkafka::admin::AdminOptions::new())
        .await
        .expect("delete topic");
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn topics_create_makes_the_layout_once() {
    let config = kafka_config();
    let admin = kafka::admin(&config, "it").expect("admin client");
    let specs = layout(&config);
    let timeout = Duration::from_secs(30);

    let first = kafka::ensure_topics(&admin, &specs, 1, timeout)
        .await
        .expect("first run");
    assert!(
        first.iter().all(|(_, o)| *o == TopicOutcome::Created),
        "{first:?}"
    );
    for spec in &specs {
        // a topic just created may show no partitions in metadata for a moment
        let count = || {
            let count = kafka::partition_count(&admin, &spec.name, timeout).expect("metadata");
            std::future::ready(count)
        };
        let limit = Duration::from_secs(10);
        let count = poll_until(limit, Duration::from_millis(100), count, |n| {
            *n == spec.partitions
        });
        let count = count.await.unwrap_or_else(|last| last);
        assert_eq!(count, spec.partitions, "{}", spec.name);
    }
    let second = kafka::ensure_topics(&admin, &specs, 1, timeout)
        .await
        .expect("second run");
    assert!(
        second.iter().all(|(_, o)| *o == TopicOutcome::Exists),
        "{second:?}"
    );

    let mut more = specs.clone();
    more[0].partitions += 1;
    let third = kafka::ensure_topics(&admin, &more[..1], 1, timeout)
        .await
        .expect("third run");
    assert_eq!(
        third[0].1,
        TopicOutcome::PartitionsDiffer {
            actual: specs[0].partitions,
            wanted: more[0].partitions
        }
    );

    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    admin
        .delete_topics(&names, &rdkafka::admin::AdminOptions::new())
        .await
        .expect("delete topics");
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn migrations_apply_once_and_prepared_statements_round_trip() {
    let config = store_config();
    let keyspace = config.keyspace.clone();
    let session = notify_store::connect(&config).await.expect("connect");

    let first = notify_store::migrate(&session, &config)
        .await
        .expect("first migrate");
    let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(first.applied, all);
    assert!(first.already_applied.is_empty());
    let second = notify_store::migrate(&session, &config)
        .await
        .expect("second migrate");
    assert!(
        second.applied.is_empty(),
        "re-run applied {:?}",
        second.applied
    );
    assert_eq!(second.already_applied, all);
    let recorded = notify_store::migrate::applied_versions(&session, &keyspace)
        .await
        .expect("versions");
    assert_eq!(recorded.iter().map(|(v, _)| *v).collect::<Vec<_>>(), all);

    // a row of the notification log, written and read with prepared statements
    let insert = session
        .prepare(format!(
            "INSERT INTO {keyspace}.notification_log \
             (tenant_id, event_id, channel, recipient, delivery_id, state, attempts, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, toTimestamp(now()))"
        ))
        .await
        .expect("prepare insert");
    let select = session
        .prepare(format!(
            "SELECT delivery_id, state, attempts, TTL(state) FROM {keyspace}.notification_log \
             WHERE tenant_id = ? AND event_id = ? AND channel = ? AND recipient = ?"
        ))
        .await
        .expect("prepare select");
    let event_id = Uuid::new_v4().to_string();
    let delivery_id = notify_schemas::delivery_id(
        "acme",
        Uuid::parse_str(&event_id).expect("uuid"),
        notify_schemas::Channel::Apns,
        "tok-1",
    )
    .to_string();
    session
        .execute_unpaged(
            &insert,
            (
                "acme",
                &event_id,
                "apns",
                "tok-1",
                &delivery_id,
                "sent",
                1_i32,
            ),
        )
        .await
        .expect("insert");
    let (read_id, state, attempts, ttl): (String, String, i32, Option<i32>) = session
        .execute_unpaged(&select, ("acme", &event_id, "apns", "tok-1"))
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .single_row()
        .expect("one row");
    assert_eq!(
        (read_id.as_str(), state.as_str(), attempts),
        (delivery_id.as_str(), "sent", 1)
    );
    let ttl = ttl.expect("the log's default TTL applies");
    assert!(ttl > 29 * 24 * 3600 && ttl <= 30 * 24 * 3600, "ttl {ttl}");

    // another tenant's key with the same event id sees nothing
    let other = session
        .execute_unpaged(&select, ("other", &event_id, "apns", "tok-1"))
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows");
    assert_eq!(other.rows_num(), 0);

    session
        .query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
        .await
        .expect("drop keyspace");
}
