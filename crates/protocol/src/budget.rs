//! The result budget hub and workers share: how many bytes of JSON a tool result may take by
//! default, how many rows one page may ask for, and the helpers that keep a page within it.

use serde_json::Value;

/// Most bytes of JSON a tool result takes when the caller sets no `limit`.
pub const RESULT_BUDGET: usize = 16 * 1024;
/// Bytes of rows a default page carries (the rest of the budget is the envelope and summary).
pub const ROW_BUDGET: usize = 12 * 1024;
/// Largest `limit` a list tool accepts.
pub const MAX_LIMIT: usize = 1000;

/// Counts bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `value` as compact JSON, without building the text.
pub fn json_len(value: &Value) -> usize {
    let mut counter = Counter(0);
    // Writing a Value to a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The length of anything serialisable as compact JSON (0 if it cannot be encoded).
pub fn json_len_of<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => 0,
    }
}

/// How many of `rows`, from the first, fit in `budget` bytes (one at least, when there is one).
pub fn fit<'a>(rows: impl IntoIterator<Item = &'a Value>, budget: usize) -> usize {
    let mut used = 0;
    let mut taken = 0;
    for row in rows {
        used += json_len(row) + 1;
        if used > budget && taken > 0 {
            break;
        }
        taken += 1;
    }
    taken
}

/// Keeps only the keys of `fields` in an object row (`fields` empty: the row unchanged).
pub fn project(row: &mut Value, fields: &[String]) {
    if fields.is_empty() {
        return;
    }
    if let Value::Object(map) = row {
        map.retain(|k, _| fields.iter().any(|f| f == k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn measures_and_fits() {
        let row = json!({"a": "xyz", "b": [1, 2]});
        assert_eq!(json_len(&row), row.to_string().len());
        let rows = vec![row.clone(); 10];
        let one = json_len(&row) + 1;
        assert_eq!(fit(&rows, one * 3), 3);
        assert_eq!(fit(&rows, 1), 1, "one row at least");
        assert_eq!(fit(&[], 10), 0);
        let mut r = row;
        project(&mut r, &["b".to_owned()]);
        assert_eq!(r, json!({"b": [1, 2]}));
    }
}
