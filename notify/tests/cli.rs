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
