//! Turning byte offsets into what an operator can act on: a 1-based line and a dotted key
//! path like `runtime.workers`, `listener[0].backend` or `backend "broker".connect_timeout`.
//!
//! Errors found after parsing carry a `toml::Spanned` from the field they check. Errors
//! raised by `toml` itself (unknown key, wrong type, bad duration) carry only a span, so the
//! key path is recovered by walking the spanned document tree (`toml::de::DeTable`) to the
//! deepest key or value that contains the offset.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// True for names usable as listener or backend names: non-empty, `[A-Za-z0-9_.-]`.
/// They end up in access-log lines and metrics labels, where spaces and quotes hurt.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// How an entry of `[[listener]]` or `[[backend]]` is named in messages: by its name when
/// it has a valid one (`backend "broker"`), else by position (`listener[0]`).
pub(crate) fn entry_label(kind: &str, index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) if is_valid_name(name) => format!("{kind} {name:?}"),
        _ => format!("{kind}[{index}]"),
    }
}

/// The dotted key path at `offset`, or `None` when the text does not parse or the offset
/// lies outside every key and value (e.g. a blank line).
pub(crate) fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let document = DeTable::parse(text).ok()?;
    table_path(document.get_ref(), offset, None)
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

/// `prefix` is the path of the table itself (`None` for the document root).
fn table_path(table: &DeTable<'_>, offset: usize, prefix: Option<&str>) -> Option<String> {
    for (key, value) in table.iter() {
        let path = match prefix {
            Some(prefix) => format!("{prefix}.{}", key.get_ref()),
            None => key.get_ref().to_string(),
        };
        if let Some(deeper) = value_path(value, offset, &path, key.get_ref()) {
            return Some(deeper);
        }
        if contains(&key.span(), offset) || contains(&value.span(), offset) {
            return Some(path);
        }
    }
    None
}

/// Looks inside `value` for a deeper match. Table spans cover only their `[header]`, so
/// children are always searched, not only when the table's own span contains the offset.
fn value_path(
    value: &Spanned<DeValue<'_>>,
    offset: usize,
    path: &str,
    key: &str,
) -> Option<String> {
    match value.get_ref() {
        DeValue::Table(table) => table_path(table, offset, Some(path)),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            let label = match item.get_ref() {
                DeValue::Table(table) => {
                    let name = table.get("name").and_then(|v| v.get_ref().as_str());
                    // Only the top-level `[[listener]]` / `[[backend]]` entries have names.
                    let label = entry_label(key, index, name);
                    if path == key {
                        label
                    } else {
                        format!("{path}[{index}]")
                    }
                }
                _ => format!("{path}[{index}]"),
            };
            value_path(item, offset, &label, key)
                .or_else(|| contains(&item.span(), offset).then_some(label))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
