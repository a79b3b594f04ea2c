//! The operator commands as an operator runs them: the built binary against the real stack.

use std::process::{Command, Output};

use notify_it::{brokers, cassandra, kafka_config, store_config, Scratch};

fn notify(args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_notify"))
        .args(args)
        .envs(env.iter().copied())
        .env("NOTIFY_KAFKA__BROKERS", brokers())
        .env("NOTIFY_STORE__NODES", format!("[\"{}\"]", cassandra()))
        .output()
        .expect("run notify");
    output
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "notify failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn migrate_and_topics_create_are_safe_to_rerun() {
    let (kafka, store) = (kafka_config(), store_config());
    // removes the topics and the keyspace the commands create, passed or failed
    let _scratch = Scratch::new(&kafka, &store);
    let keyspace = store.keyspace.as_str();
    let env = [("NOTIFY_STORE__KEYSPACE", keyspace)];
    let versions: Vec<i32> = notify_store::MIGRATIONS.iter().map(|m| m.version).collect();
    let newest = versions.last().copied().expect("a migration");
    let first = stdout_of(&notify(&["migrate"], &env));
    assert!(
        first.contains(&format!(
            "schema version {newest} (applied now: {versions:?}, already applied: [])"
        )),
        "{first}"
    );
    let second = stdout_of(&notify(&["migrate"], &env));
    assert!(
        second.contains(&format!("(applied now: [], already applied: {versions:?})")),
        "{second}"
    );

    let prefix = kafka.topic_prefix.as_str();
    let env = [("NOTIFY_KAFKA__TOPIC_PREFIX", prefix)];
    let created = stdout_of(&notify(&["topics", "create"], &env));
    let topics =
        notify_common::topics::layout(&notify_common::config::KafkaConfig::default()).len();
    assert_eq!(
        created
            .lines()
            .filter(|l| l.starts_with("created "))
            .count(),
        topics,
        "{created}"
    );
    let again = stdout_of(&notify(&["topics", "create"], &env));
    assert_eq!(
        again.lines().filter(|l| l.starts_with("exists ")).count(),
        topics,
        "{again}"
    );
    let listed = stdout_of(&notify(&["topics", "list"], &env));
    assert!(
        listed.contains(&format!("{prefix}.deliveries.webpush")) && !listed.contains("missing"),
        "{listed}"
    );

    let checked = stdout_of(&notify(&["check"], &[]));
    assert!(
        checked.contains("kafka     ok") && checked.contains("database  ok"),
        "{checked}"
    );
}

#[test]
fn bad_configuration_is_refused_with_the_key_named() {
    let output = notify(&["migrate"], &[("NOTIFY_STORE__KEYSPAC", "typo")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("keyspac"), "{stderr}");

    let output = notify(&["migrate"], &[("NOTIFY_STORE__KEYSPACE", "Bad-Name")]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("store.keyspace"));
}

#[test]
fn a_dispatcher_without_its_provider_names_the_table_to_add() {
    let output = notify(&["dispatch", "--channel", "sms"], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[dispatch.providers."), "{stderr}");
}

#[test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
fn schemas_register_sets_backward_and_refuses_an_incompatible_change() {
    let prefix = notify_it::unique("it");
    let registry = notify_it::schema_registry();
    let env = [
        ("NOTIFY_KAFKA__TOPIC_PREFIX", prefix.as_str()),
        ("NOTIFY_SCHEMA_REGISTRY__URL", registry.as_str()),
    ];
    let subjects = notify_common::schema_registry::topics_of;
    let topics = notify_common::topics::Topics::new(&prefix);
    let all: usize = [
        notify_common::config::FramedTopics::Requests,
        notify_common::config::FramedTopics::Deliveries,
        notify_common::config::FramedTopics::Status,
    ]
    .into_iter()
    .map(|kind| subjects(kind, &topics).len())
    .sum();

    let first = stdout_of(&notify(&["schemas", "register"], &env));
    assert_eq!(
        first
            .lines()
            .filter(|l| l.contains("(registered), BACKWARD"))
            .count(),
        all,
        "{first}"
    );
    let again = stdout_of(&notify(&["schemas", "register"], &env));
    assert_eq!(
        again
            .lines()
            .filter(|l| l.contains("(already registered), BACKWARD"))
            .count(),
        all,
        "{again}"
    );

    // a compatible next version: a new optional field with a default
    let dir = std::env::temp_dir().join(format!("notify-{prefix}-avsc"));
    std::fs::create_dir_all(&dir).unwrap();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/avro");
    let write = |file: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let text = std::fs::read_to_string(format!("{source}/{file}")).unwrap();
        let mut schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        edit(&mut schema);
        std::fs::write(dir.join(file), schema.to_string()).unwrap();
    };
    let add = |field: serde_json::Value| {
        move |schema: &mut serde_json::Value| {
            schema["fields"].as_array_mut().unwrap().push(field.clone());
        }
    };
    write("notification_request.avsc", &|_| {});
    write("delivery.avsc", &|_| {});
    write(
        "delivery_status.avsc",
        &add(serde_json::json!({"name": "region", "type": ["null", "string"], "default": null})),
    );
    let status_subject = format!("{}-value", topics.status());
    let evolved = stdout_of(&notify(
        &["schemas", "register", "--dir", dir.to_str().unwrap()],
        &env,
    ));
    let line = evolved
        .lines()
        .find(|l| l.starts_with(&status_subject))
        .unwrap_or_default();
    assert!(line.contains("(registered), BACKWARD"), "{evolved}");

    // an incompatible one: a new field without a default cannot be read from older records
    write(
        "delivery_status.avsc",
        &add(serde_json::json!({"name": "must_have", "type": "string"})),
    );
    let refused = notify(
        &["schemas", "register", "--dir", dir.to_str().unwrap()],
        &env,
    );
    let stdout = String::from_utf8_lossy(&refused.stdout);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&status_subject) && l.contains("REFUSED")),
        "{stdout}"
    );
    assert!(
        stderr.contains("incompatible with BACKWARD") && stderr.contains(&status_subject),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
