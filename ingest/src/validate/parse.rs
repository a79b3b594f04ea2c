//! JSON bodies to typed inputs, with errors a client can act on.
//!
//! Guarantees: a body that is not JSON at all (syntax error, truncated, trailing bytes) is a 400
//! naming the line and column; JSON that does not fit the type (unknown field, wrong type,
//! missing field, unknown enum value) is a 422 whose field error names the JSON pointer of the
//! offending field. Parsing never panics; nesting is bounded by serde_json's recursion limit.
//!
//! Not done here: the body size cap (the router layer answers 413 before reading) and the
//! semantic rules of [`super::validate`].

use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_json::value::RawValue;

use super::body::NotificationInput;
use crate::problem::{FieldError, Problem};

/// Parses `bytes` as one JSON value of type `T`.
///
/// Malformed JSON → 400 with line and column; well-formed JSON of the wrong shape → 422 with
/// the JSON pointer of the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| to_problem(err, ""))?;
    de.end().map_err(syntax_problem)?;
    Ok(value)
}

/// What [`parse_batch`] makes of one item: the input, or its field errors with pointers from
/// the batch root (`/items/3/user_id`).
pub type BatchItem = Result<NotificationInput, Vec<FieldError>>;

/// Parses a batch body (`{"items": [...]}`, see [`super::BatchInput`]) item by item, so one
/// ill-typed item does not fail the others.
///
/// The envelope itself must be well-formed: malformed JSON is a 400, and an envelope of the wrong
/// shape, no items or more than `max_items` is a 422 for the whole batch.
pub fn parse_batch(bytes: &[u8], max_items: usize) -> Result<Vec<BatchItem>, Problem> {
    // items stay slices of the body until each is parsed into its type: no JSON tree of the
    // whole batch is built next to the typed items
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Envelope<'a> {
        #[serde(borrow)]
        items: Vec<&'a RawValue>,
    }
    let envelope: Envelope<'_> = parse_json_borrowed(bytes)?;
    if envelope.items.is_empty() {
        return Err(Problem::validation(vec![FieldError::new(
            "/items",
            "must contain at least one item",
        )]));
    }
    if envelope.items.len() > max_items {
        return Err(Problem::validation(vec![FieldError::new(
            "/items",
            format!(
                "must contain at most {max_items} items, not {}",
                envelope.items.len()
            ),
        )]));
    }
    Ok(envelope
        .items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let mut de = serde_json::Deserializer::from_str(item.get());
            serde_path_to_error::deserialize(&mut de)
                .map_err(|err| vec![field_error(err, &format!("/items/{index}"))])
        })
        .collect())
}

/// [`parse_json`] for a type that borrows from `bytes`.
fn parse_json_borrowed<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| to_problem(err, ""))?;
    de.end().map_err(syntax_problem)?;
    Ok(value)
}

/// Prefixes every field pointer with `prefix` (e.g. `/items/3`), for errors of a batch item
/// found by [`super::validate`].
pub fn nest_errors(prefix: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(format!("{prefix}{}", e.field), e.message))
        .collect()
}

/// Escapes one JSON pointer reference token (RFC 6901 §3: `~` → `~0`, `/` → `~1`).
pub(crate) fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn to_problem(err: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> Problem {
    match err.inner().classify() {
        Category::Data => Problem::validation(vec![field_error(err, prefix)]),
        Category::Syntax | Category::Eof | Category::Io => syntax_problem(err.into_inner()),
    }
}

fn syntax_problem(err: serde_json::Error) -> Problem {
    let message = without_position(&err);
    Problem::bad_request(format!(
        "malformed JSON at line {} column {}: {message}",
        err.line(),
        err.column()
    ))
}

fn field_error(err: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> FieldError {
    use serde_path_to_error::Segment;
    let mut pointer = prefix.to_owned();
    for segment in err.path().iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push('/');
                pointer.push_str(&pointer_token(key));
            }
            Segment::Unknown => {}
        }
    }
    let message = without_position(err.inner());
    // serde reports a missing field at its parent object; point at the field itself.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        pointer.push('/');
        pointer.push_str(&pointer_token(field));
        return FieldError::new(pointer, "is required");
    }
    FieldError::new(pointer, message)
}

/// serde_json's message without its " at line L column C" suffix.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => text,
    }
}
