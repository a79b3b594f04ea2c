//! The operator commands as an operator runs them: the built binary against the real stack.

use std::process::{Command, Output};

fn notify(args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_notify"))
        .args(args)
        .envs(env.iter().copied())
        .env(
            "NOTIFY_KAFKA__BROKERS",
            std::env::var("NOTIFY_IT_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        )
        .env(
            "NOTIFY_STORE__NODES",
            format!(
                "[\"{}\"]",
                std::env::var("NOTIFY_IT_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
            ),
        )
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

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", std::process::id())
        + &format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos()
        )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn migrate_and_topics_create_are_safe_to_rerun() {
    let keyspace = unique("it_cli");
    let env = [("NOTIFY_STORE__KEYSPACE", keyspace.as_str())];
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

    let prefix = unique("itcli").replace('_', "-");
    let env = [("NOTIFY_KAFKA__TOPIC_PREFIX", prefix.as_str())];
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

    let mut kafka = notify_common::config::KafkaConfig::default();
    kafka.brokers = std::env::var("NOTIFY_IT_KAFKA").unwrap_or_else(|_| kafka.brokers.clone());
    kafka.topic_prefix = prefix;
    let names: Vec<String> = notify_common::topics::layout(&kafka)
        .into_iter()
        .map(|s| s.name)
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let admin = notify_common::kafka::admin(&kafka, "it").expect("admin");
    admin
        .delete_topics(&names, &rdkafka::admin::AdminOptions::new())
        .await
        .expect("delete topics");
    let store = notify_common::config::StoreConfig {
        nodes: vec![
            std::env::var("NOTIFY_IT_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
        ],
        ..Default::default()
    };
    let session = notify_store::connect(&store).await.expect("connect");
    session
        .query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
        .await
        .expect("drop keyspace");
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
