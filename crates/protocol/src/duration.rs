//! Durations written the way operators write them: `500ms`, `2s`, `5m`.

use std::time::Duration;

/// Parses `500ms`, `2s`, `1m30s`, `24h`; a bare number is seconds.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration: expected something like 500ms, 2s or 5m".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| {
        format!("invalid duration {s:?} ({e}): expected something like 500ms, 2s or 5m")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86400));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("").is_err());
    }
}
