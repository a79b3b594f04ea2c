//! Versioned schema migrations, run by `notify migrate`, never by hand.
//!
//! Guarantees: the keyspace and every table are created idempotently; each applied version is
//! recorded in `<keyspace>.schema_migrations` with a checksum of its text, and a recorded
//! migration whose text has since changed is refused instead of silently diverging. Every
//! statement is `IF NOT EXISTS`, or an `ALTER TABLE ... ADD <column>` that is skipped when the
//! column is already there, so a run cut short is finished by the next one. Not
//! guaranteed: two `notify migrate` runs racing each other on a fresh cluster; run it once per
//! deploy (the Helm chart does, as a Job).

use scylla::client::session::Session;
use sha2::{Digest, Sha256};

use notify_common::config::{is_cql_identifier, StoreConfig};

use crate::session::{StoreError, StoreResult};

/// One schema version: CQL statements separated by `;`, with `{keyspace}` for the keyspace.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Strictly increasing version number.
    pub version: i32,
    /// Short name, recorded with the version.
    pub name: &'static str,
    /// The CQL text.
    pub cql: &'static str,
}

/// Every migration, oldest first. Append only: a released migration never changes.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        cql: include_str!("../migrations/0001_initial.cql"),
    },
    Migration {
        version: 2,
        name: "policy",
        cql: include_str!("../migrations/0002_policy.cql"),
    },
    Migration {
        version: 3,
        name: "app_scopes",
        cql: include_str!("../migrations/0003_app_scopes.cql"),
    },
    Migration {
        version: 4,
        name: "suppressions",
        cql: include_str!("../migrations/0004_suppressions.cql"),
    },
    Migration {
        version: 5,
        name: "webhooks",
        cql: include_str!("../migrations/0005_webhooks.cql"),
    },
];

impl Migration {
    /// The statements of this migration for `keyspace`, without comments.
    pub fn statements(&self, keyspace: &str) -> Vec<String> {
        let without_comments: String = self
            .cql
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        without_comments
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.replace("{keyspace}", keyspace))
            .collect()
    }

    /// Hex SHA-256 of the migration text.
    pub fn checksum(&self) -> String {
        Sha256::digest(self.cql.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// What a run of [`migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run.
    pub applied: Vec<i32>,
    /// Versions that were already recorded.
    pub already_applied: Vec<i32>,
}

impl MigrationReport {
    /// The newest version now in the database.
    pub fn current_version(&self) -> Option<i32> {
        self.applied
            .iter()
            .chain(&self.already_applied)
            .copied()
            .max()
    }
}

/// Creates the keyspace if needed and applies every migration not yet recorded.
pub async fn migrate(session: &Session, config: &StoreConfig) -> StoreResult<MigrationReport> {
    let keyspace = config.keyspace.as_str();
    if !is_cql_identifier(keyspace) {
        return Err(StoreError::Config(format!(
            "keyspace {keyspace:?} is not a plain identifier"
        )));
    }
    // DDL cannot bind parameters; keyspace and replication come from validated configuration.
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {} AND durable_writes = true",
                config.replication
            ),
            (),
        )
        .await?;
    session
        .query_unpaged(
            format!(
                "CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations \
                 (version int PRIMARY KEY, name text, checksum text, applied_at timestamp)"
            ),
            (),
        )
        .await?;
    session.await_schema_agreement().await?;

    let applied = applied_versions(session, keyspace).await?;
    let record = session
        .prepare(format!(
            "INSERT INTO {keyspace}.schema_migrations (version, name, checksum, applied_at) \
             VALUES (?, ?, ?, toTimestamp(now()))"
        ))
        .await?;

    let mut report = MigrationReport::default();
    for migration in MIGRATIONS {
        let expected = migration.checksum();
        if let Some((_, recorded)) = applied.iter().find(|(v, _)| *v == migration.version) {
            if *recorded != expected {
                return Err(StoreError::MigrationChanged {
                    version: migration.version,
                    name: migration.name,
                    applied: recorded.clone(),
                    expected,
                });
            }
            report.already_applied.push(migration.version);
            continue;
        }
        tracing::info!(
            keyspace,
            version = migration.version,
            name = migration.name,
            "applying migration"
        );
        for statement in migration.statements(keyspace) {
            if let Some((table, column)) = added_column(&statement) {
                if column_exists(session, keyspace, table, column).await? {
                    continue;
                }
            }
            session.query_unpaged(statement, ()).await?;
        }
        session.await_schema_agreement().await?;
        session
            .execute_unpaged(&record, (migration.version, migration.name, &expected))
            .await?;
        report.applied.push(migration.version);
    }
    Ok(report)
}

/// The table and column of an `ALTER TABLE <keyspace>.<table> ADD <column> <type>` statement.
/// CQL accepted by both ScyllaDB and Cassandra has no `ADD IF NOT EXISTS`, so the runner makes
/// such a statement idempotent itself, by asking the schema first.
fn added_column(statement: &str) -> Option<(&str, &str)> {
    match statement.split_whitespace().collect::<Vec<_>>()[..] {
        [alter, table, name, add, column, _type]
            if alter.eq_ignore_ascii_case("alter")
                && table.eq_ignore_ascii_case("table")
                && add.eq_ignore_ascii_case("add") =>
        {
            let (_, table) = name.split_once('.')?;
            Some((table, column))
        }
        _ => None,
    }
}

/// Whether `keyspace.table` has `column`, from `system_schema` (same in ScyllaDB and Cassandra).
async fn column_exists(
    session: &Session,
    keyspace: &str,
    table: &str,
    column: &str,
) -> StoreResult<bool> {
    let result = session
        .query_unpaged(
            "SELECT column_name FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
            (keyspace, table, column),
        )
        .await?
        .into_rows_result()
        .map_err(|err| StoreError::Result(err.to_string()))?;
    Ok(result.rows_num() > 0)
}

/// Versions and checksums recorded in `<keyspace>.schema_migrations`.
pub async fn applied_versions(
    session: &Session,
    keyspace: &str,
) -> StoreResult<Vec<(i32, String)>> {
    let result = session
        .query_unpaged(
            format!("SELECT version, checksum FROM {keyspace}.schema_migrations"),
            (),
        )
        .await?
        .into_rows_result()
        .map_err(|err| StoreError::Result(err.to_string()))?;
    let rows = result
        .rows::<(i32, Option<String>)>()
        .map_err(|err| StoreError::Result(err.to_string()))?;
    let mut versions = Vec::new();
    for row in rows {
        let (version, checksum) = row.map_err(|err| StoreError::Result(err.to_string()))?;
        versions.push((version, checksum.unwrap_or_default()));
    }
    versions.sort_unstable();
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_strictly_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert_eq!(MIGRATIONS.first().map(|m| m.version), Some(1));
    }

    #[test]
    fn statements_are_idempotent_and_name_the_keyspace() {
        for migration in MIGRATIONS {
            let statements = migration.statements("ks_test");
            assert!(!statements.is_empty());
            for statement in &statements {
                assert!(
                    statement.contains("IF NOT EXISTS") || added_column(statement).is_some(),
                    "not idempotent: {statement}"
                );
                assert!(
                    statement.contains("ks_test."),
                    "keyspace not substituted: {statement}"
                );
                assert!(!statement.contains("{keyspace}"));
                assert!(!statement.contains("--"), "comment left in: {statement}");
            }
        }
    }

    #[test]
    fn initial_migration_has_the_design_tables() {
        let tables: Vec<String> = MIGRATIONS[0]
            .statements("k")
            .iter()
            .filter_map(|s| s.split_whitespace().nth(5).map(str::to_owned))
            .collect();
        for table in [
            "k.tenants",
            "k.apps",
            "k.users",
            "k.devices",
            "k.preferences",
            "k.categories",
            "k.templates",
            "k.notification_log",
            "k.idempotency_keys",
            "k.schedule",
        ] {
            assert!(
                tables.iter().any(|t| t == table),
                "missing {table} in {tables:?}"
            );
        }
    }

    #[test]
    fn column_additions_are_recognised() {
        assert_eq!(
            added_column("ALTER TABLE k.apps ADD scopes set<text>"),
            Some(("apps", "scopes"))
        );
        assert_eq!(
            MIGRATIONS[2]
                .statements("k")
                .iter()
                .map(|s| added_column(s))
                .collect::<Vec<_>>(),
            [Some(("apps", "scopes"))]
        );
        // anything else runs as written
        assert_eq!(added_column("ALTER TABLE k.apps DROP scopes"), None);
        assert_eq!(added_column("ALTER TABLE apps ADD scopes set<text>"), None);
        assert_eq!(
            added_column("CREATE TABLE IF NOT EXISTS k.x (a int PRIMARY KEY)"),
            None
        );
    }

    #[test]
    fn checksum_changes_with_the_text() {
        let a = Migration {
            version: 1,
            name: "a",
            cql: "CREATE TABLE IF NOT EXISTS {keyspace}.x (a int PRIMARY KEY)",
        };
        let b = Migration {
            cql: "CREATE TABLE IF NOT EXISTS {keyspace}.x (a bigint PRIMARY KEY)",
            ..a
        };
        assert_ne!(a.checksum(), b.checksum());
        assert_eq!(a.checksum().len(), 64);
    }
}
