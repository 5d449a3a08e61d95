//! Serving one page of a fleet query within the result budget. The first call fans out and
//! answers the first page (with the summary); when more rows remain, the merged rows are kept
//! as a snapshot and `next_cursor` names it, so later pages are slices of that snapshot and
//! call no cluster. A cursor whose snapshot has expired (2 min) is served from a fresh read,
//! resuming after the last row's key where rows are sorted by one (`vm_search`), else at the
//! same offset.

use std::future::Future;

use hyperfed_protocol::budget::{MAX_LIMIT, RESULT_BUDGET, json_len, project};
use rmcp::model::JsonObject;
use serde_json::{Map, Value, json};

use crate::error::HubError;
use crate::hub::Hub;
use crate::snapshots::{Cursor, Listing};

/// Bytes kept free for `count`, `next_cursor`, the hint and the note.
const RESERVE: usize = 900;

/// What a paged fleet tool is.
pub(crate) struct PageSpec {
    /// The tool's name (part of a snapshot's query).
    pub tool: &'static str,
    /// Its cursors' prefix.
    pub prefix: &'static str,
    /// The key its rows go under.
    pub rows_key: &'static str,
    /// The filters a caller can narrow with, as the hint names them.
    pub narrow: &'static str,
    /// Columns `fields` may name (empty: no `fields`).
    pub fields: &'static [&'static str],
}

/// The arguments that are not about paging, as the snapshot's query text.
fn query_of(tool: &str, args: &JsonObject) -> String {
    let filters: Map<String, Value> = args
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "limit" | "cursor" | "fields"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    format!("{tool}{}", Value::Object(filters))
}

fn limit_arg(args: &JsonObject) -> Result<Option<usize>, HubError> {
    match args.get("limit") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_LIMIT as u64).contains(&n) => Ok(Some(n as usize)),
            _ => Err(HubError::BadRequest(format!(
                "argument 'limit' must be an integer from 1 to {MAX_LIMIT}"
            ))),
        },
    }
}

fn fields_arg(spec: &PageSpec, args: &JsonObject) -> Result<Vec<String>, HubError> {
    let Some(v) = args.get("fields").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let bad = || {
        HubError::BadRequest(format!(
            "argument 'fields' must be an array of column names from: {}",
            spec.fields.join(", ")
        ))
    };
    let list = v.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|f| {
            f.as_str()
                .filter(|f| spec.fields.contains(f))
                .map(str::to_owned)
                .ok_or_else(bad)
        })
        .collect()
}

/// Answers one page of `spec`'s query: from the snapshot a `cursor` names, or from `fetch`.
pub(crate) async fn serve<F, Fut>(
    hub: &Hub,
    spec: &PageSpec,
    args: &JsonObject,
    fetch: F,
) -> Result<Value, HubError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Listing, HubError>>,
{
    let limit = limit_arg(args)?;
    let fields = fields_arg(spec, args)?;
    let query = query_of(spec.tool, args);
    let cursor = match args.get("cursor").and_then(Value::as_str) {
        Some(text) if !text.is_empty() => {
            Some(Cursor::decode(spec.prefix, text).ok_or_else(|| {
                HubError::BadRequest(format!(
                    "invalid cursor: pass the next_cursor of a previous {} page",
                    spec.tool
                ))
            })?)
        }
        _ => None,
    };
    let kept = cursor
        .as_ref()
        .and_then(|c| hub.snapshots().get(c.snapshot));
    if let (Some(snap), Some(c)) = (&kept, &cursor) {
        if snap.query != query {
            return Err(HubError::BadRequest(format!(
                "this cursor belongs to a {} call with other filters: repeat those filters, or start again without cursor",
                spec.tool
            )));
        }
        let (mut out, more) = page(spec, &snap.listing, c.offset, limit, &fields, None);
        if let Some(end) = more {
            let next = Cursor {
                snapshot: c.snapshot,
                offset: end,
                after: last_key(&snap.listing, end),
            };
            out["next_cursor"] = json!(next.encode(spec.prefix));
        }
        return Ok(out);
    }
    let listing = fetch().await?;
    let (offset, note) = match &cursor {
        None => (0, None),
        Some(c) => {
            let offset = match &listing.keys {
                Some(keys) => keys.partition_point(|k| k.as_str() <= c.after.as_str()),
                None => c.offset,
            };
            let note = "The cursor's snapshot had expired (they are kept 2 minutes): this page comes from a fresh read, continuing after the last row you saw.";
            (offset, Some(note))
        }
    };
    let (mut out, more) = page(spec, &listing, offset, limit, &fields, note);
    if let Some(end) = more {
        // Only a listing with more pages is kept, and the cursor names it.
        let after = last_key(&listing, end);
        let (id, _) = hub.snapshots().put(query, listing);
        let next = Cursor {
            snapshot: id,
            offset: end,
            after,
        };
        out["next_cursor"] = json!(next.encode(spec.prefix));
    }
    Ok(out)
}

fn last_key(listing: &Listing, end: usize) -> String {
    end.checked_sub(1)
        .and_then(|i| listing.keys.as_ref().and_then(|k| k.get(i)))
        .cloned()
        .unwrap_or_default()
}

/// One page from `offset` (within the budget unless `limit` is given), and where the next
/// one starts if rows remain (the caller fills in `next_cursor`).
fn page(
    spec: &PageSpec,
    listing: &Listing,
    offset: usize,
    limit: Option<usize>,
    fields: &[String],
    note: Option<&str>,
) -> (Value, Option<usize>) {
    let total = listing.rows.len();
    let offset = offset.min(total);
    let mut out = Map::new();
    if offset == 0 && note.is_none() {
        out.extend(listing.head.clone());
    }
    out.extend(listing.tail.clone());
    out.insert("total".into(), json!(total));
    let room = RESULT_BUDGET.saturating_sub(json_len(&Value::Object(out.clone())) + RESERVE);
    let mut rows = Vec::new();
    let mut used = 0;
    for row in &listing.rows[offset..] {
        if rows.len() >= limit.unwrap_or(MAX_LIMIT) {
            break;
        }
        let mut row = row.clone();
        project(&mut row, fields);
        used += json_len(&row) + 1;
        if limit.is_none() && used > room && !rows.is_empty() {
            break;
        }
        rows.push(row);
    }
    let end = offset + rows.len();
    out.insert("count".into(), json!(rows.len()));
    out.insert(spec.rows_key.into(), Value::Array(rows));
    out.insert("next_cursor".into(), Value::Null);
    if let Some(note) = note {
        out.insert("note".into(), json!(note));
    }
    let more = (end < total).then_some(end);
    if more.is_some() {
        out.insert("truncated".into(), json!(true));
        let columns = if spec.fields.is_empty() {
            ""
        } else {
            "; fields for fewer columns"
        };
        out.insert(
            "hint".into(),
            json!(format!(
                "Rows {}-{end} of {total}. Pass cursor=next_cursor for the next page, or narrow with {}{columns}; limit sets rows per page.",
                offset + 1,
                spec.narrow
            )),
        );
    }
    (Value::Object(out), more)
}
