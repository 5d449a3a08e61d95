//! Tool-name rules that real MCP clients enforce.

/// Longest tool name the hub exports, leaving clients room for their own prefix.
pub const MAX_EXPORTED_TOOL_NAME: usize = 48;

/// True when `name` matches `^[A-Za-z0-9_-]{1,max}$`.
pub fn is_valid_tool_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_client_safe_names() {
        assert!(is_valid_tool_name("dc1__vm_list", 48));
        assert!(!is_valid_tool_name("dc1.vm_list", 48));
        assert!(!is_valid_tool_name("", 48));
        assert!(!is_valid_tool_name(&"a".repeat(49), 48));
        assert!(!is_valid_tool_name("vm list", 48));
    }
}
