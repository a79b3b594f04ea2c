//! What every Cassandra implementation in this crate does the same way: checking the keyspace
//! it splices into its statements, and reading the result of a lightweight transaction.
//!
//! Guarantees: a keyspace that is not a plain CQL identifier is refused before any statement
//! text is built from it, so a configured name can never change what a statement does.

use scylla::response::query_result::QueryResult;
use scylla::value::{CqlValue, Row};

use crate::session::{StoreError, StoreResult};
use notify_common::config::is_cql_identifier;

/// Refuses a keyspace that is not a plain identifier: it is spliced into CQL text.
pub(crate) fn check_keyspace(keyspace: &str) -> StoreResult<()> {
    if is_cql_identifier(keyspace) {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "keyspace {keyspace:?} is not a plain identifier"
        )))
    }
}

/// A result that did not have the shape a statement promises.
pub(crate) fn unexpected(err: impl std::fmt::Display) -> StoreError {
    StoreError::Result(err.to_string())
}

/// The one row a lightweight transaction answers: whether it applied and, when it did not,
/// the columns of the row that made its condition fail.
#[derive(Debug)]
pub(crate) struct LwtRow {
    names: Vec<String>,
    row: Row,
}

impl LwtRow {
    /// Reads the single row of a lightweight transaction's result.
    pub(crate) fn read(result: QueryResult) -> StoreResult<Self> {
        let rows = result.into_rows_result().map_err(unexpected)?;
        let names = rows
            .column_specs()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let row: Row = rows.single_row().map_err(unexpected)?;
        Ok(Self { names, row })
    }

    /// Whether the transaction applied (its `[applied]` column).
    pub(crate) fn applied(&self) -> bool {
        matches!(self.column("[applied]"), Some(CqlValue::Boolean(true)))
    }

    /// The value of column `name` in the answer, if present and not null.
    pub(crate) fn column(&self, name: &str) -> Option<CqlValue> {
        self.names
            .iter()
            .position(|n| n == name)
            .and_then(|i| self.row.columns.get(i).cloned().flatten())
    }
}
