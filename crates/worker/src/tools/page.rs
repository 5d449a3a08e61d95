//! Paging of list results within the result budget: `limit`, `cursor` and `fields` in, and
//! `total`, `count`, `next_cursor` (and, when cut, `truncated` with a hint naming the
//! filters) out. A cursor is the offset of the next row in the tool's order over the same
//! read (reads are cached for a second, so a quick walk sees one consistent list).

use hyperfed_protocol::budget::{MAX_LIMIT, ROW_BUDGET, json_len, project};
use rmcp::model::JsonObject;
use serde_json::{Map, Value, json};

use super::ToolCall;
use super::schema::{input, output};

/// Cursors of ours start with this.
const CURSOR_PREFIX: &str = "o";

/// A list tool's input: `props` plus `limit`, `cursor` and, with `columns`, `fields`.
pub(super) fn paged_input(mut props: Value, columns: &[&str]) -> JsonObject {
    if let Value::Object(p) = &mut props {
        p.insert(
            "limit".into(),
            json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "Rows per page (default: what fits 16 KiB)."}),
        );
        p.insert(
            "cursor".into(),
            json!({"type": "string", "description": "next_cursor of the previous page."}),
        );
        if !columns.is_empty() {
            p.insert(
                "fields".into(),
                json!({"type": "array", "items": {"type": "string", "enum": columns}, "description": "Only these columns."}),
            );
        }
    }
    input(props, &[])
}

/// A list tool's output: `total`, `count`, `next_cursor` and the rows under `key`.
pub(super) fn list_output(key: &str, item: Value) -> JsonObject {
    output(
        json!({
            "total": {"type": "integer"},
            "count": {"type": "integer"},
            "next_cursor": {"type": ["string", "null"]},
            "truncated": {"type": "boolean"},
            "hint": {"type": "string"},
            key: {"type": "array", "items": item},
        }),
        &["total", "count", "next_cursor", key],
    )
}

fn offset_of(call: &ToolCall<'_>) -> Result<usize, String> {
    match call.str_arg("cursor").filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => c
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                format!(
                    "{}: invalid cursor; pass the next_cursor of a previous page",
                    call.def.name
                )
            }),
    }
}

fn fields_of(call: &ToolCall<'_>) -> Vec<String> {
    call.args
        .get("fields")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// One page of `rows` under `key` (all of them counted in `total`); `narrow` names the
/// filters the hint suggests when the page is cut.
pub(super) fn page(
    call: &ToolCall<'_>,
    key: &str,
    rows: Vec<Value>,
    narrow: &str,
) -> Result<Map<String, Value>, String> {
    let total = rows.len();
    let offset = offset_of(call)?.min(total);
    let limit = call
        .args
        .get("limit")
        .and_then(Value::as_u64)
        .map(|l| (l as usize).clamp(1, MAX_LIMIT));
    let fields = fields_of(call);
    let mut shown = Vec::new();
    let mut used = 0;
    for mut row in rows.into_iter().skip(offset) {
        if shown.len() >= limit.unwrap_or(MAX_LIMIT) {
            break;
        }
        project(&mut row, &fields);
        used += json_len(&row) + 1;
        if limit.is_none() && used > ROW_BUDGET && !shown.is_empty() {
            break;
        }
        shown.push(row);
    }
    let end = offset + shown.len();
    let mut out = Map::new();
    out.insert("total".into(), json!(total));
    out.insert("count".into(), json!(shown.len()));
    let next = (end < total).then(|| format!("{CURSOR_PREFIX}{end}"));
    if next.is_some() {
        out.insert("truncated".into(), json!(true));
        let narrow = if narrow.is_empty() {
            String::new()
        } else {
            format!(", or narrow with {narrow}")
        };
        let has_fields = call
            .def
            .input
            .get("properties")
            .and_then(|p| p.get("fields"))
            .is_some();
        let columns = if has_fields {
            "; fields for fewer columns"
        } else {
            ""
        };
        out.insert(
            "hint".into(),
            json!(format!(
                "Rows {}-{end} of {total}. Pass cursor=next_cursor for the next page{narrow}{columns}; limit sets rows per page.",
                offset + 1
            )),
        );
    }
    out.insert("next_cursor".into(), json!(next));
    out.insert(key.into(), Value::Array(shown));
    Ok(out)
}
