//! Finding what a call names: a VM by uuid or exact name (with precise errors for a missing,
//! malformed or ambiguous key), a VM read fresh before an action, a snapshot of a given VM.

use hypercore::model::{Collection, VirDomain, VirDomainSnapshot};
use serde_json::{Value, json};

use super::ToolCall;

/// True when `text` is a canonical hyphenated uuid.
pub(super) fn is_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::parse_str(text).is_ok()
}

/// True when `text` looks like an attempt at a uuid (hex and dashes, uuid-ish length, or
/// uuid length with its dashes where a uuid has them).
pub(super) fn looks_like_uuid(text: &str) -> bool {
    let dashes_in_place = [8, 13, 18, 23]
        .iter()
        .filter(|&&i| text.as_bytes().get(i) == Some(&b'-'))
        .count();
    text.len() >= 30
        && text.matches('-').count() >= 3
        && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        || (text.len() == 36 && (text.matches('-').count() == 4 || dashes_in_place >= 3))
}

impl ToolCall<'_> {
    /// Rows of a VM device collection: one VM's (embedded in its record, stamped with its
    /// uuid) when the call names `vm`, else the whole collection.
    pub(super) async fn vm_device_rows<T: Collection>(
        &self,
        embedded: fn(&VirDomain) -> &[T],
        row: fn(&T) -> Value,
    ) -> Result<Vec<Value>, String> {
        match self.str_arg("vm") {
            Some(key) => {
                let vm = self.resolve_vm(key).await?;
                Ok(embedded(&vm)
                    .iter()
                    .map(|device| {
                        let mut out = row(device);
                        out["vm_uuid"] = json!(vm.uuid);
                        out
                    })
                    .collect())
            }
            None => Ok(self
                .state
                .cluster
                .list::<T>()
                .await
                .map_err(|e| self.cluster_err(e))?
                .iter()
                .map(row)
                .collect()),
        }
    }

    /// Finds a VM by uuid or exact name; the error names the problem precisely.
    pub(super) async fn resolve_vm(&self, key: &str) -> Result<VirDomain, String> {
        let key = key.trim();
        if key.is_empty() {
            return Err("argument 'vm' is empty: give a VM uuid or its exact name".into());
        }
        let cluster = &self.state.cluster;
        if is_uuid(key) {
            return match cluster
                .get::<VirDomain>(key)
                .await
                .map_err(|e| self.cluster_err(e))?
            {
                Some(vm) => Ok(vm),
                None => Err(format!(
                    "no VM with uuid {key} on this cluster (see vm_list)"
                )),
            };
        }
        if looks_like_uuid(key) {
            return Err(format!(
                "'{key}' is not a valid uuid (expected 8-4-4-4-12 hex digits) and no VM is named like that"
            ));
        }
        let vms = cluster
            .list::<VirDomain>()
            .await
            .map_err(|e| self.cluster_err(e))?;
        let matches: Vec<&VirDomain> = vms.iter().filter(|vm| vm.name == key).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let lower = key.to_lowercase();
                let similar: Vec<&str> = vms
                    .iter()
                    .map(|vm| vm.name.as_str())
                    .filter(|name| name.to_lowercase().contains(&lower))
                    .take(5)
                    .collect();
                Err(if similar.is_empty() {
                    format!(
                        "no VM named '{key}' on this cluster (names are exact and case-sensitive; see vm_list)"
                    )
                } else {
                    format!(
                        "no VM named exactly '{key}'; similar names: {}",
                        similar.join(", ")
                    )
                })
            }
            _ => {
                let candidates: Vec<String> = matches
                    .iter()
                    .map(|vm| format!("{} ({}, node {})", vm.uuid, vm.state, vm.node_uuid))
                    .collect();
                Err(format!(
                    "VM name '{key}' is ambiguous: {} VMs have it; pass the uuid instead. Candidates: {}",
                    matches.len(),
                    candidates.join("; ")
                ))
            }
        }
    }

    /// The VM the `vm` argument names, as it is now: one found by name in the (possibly
    /// cached) list is read again by uuid, so actions judge its current state.
    pub(super) async fn resolve_vm_fresh(&self) -> Result<VirDomain, String> {
        let key = self.str_arg("vm").unwrap_or_default();
        let vm = self.resolve_vm(key).await?;
        if is_uuid(key.trim()) {
            return Ok(vm);
        }
        match self
            .state
            .cluster
            .get::<VirDomain>(&vm.uuid)
            .await
            .map_err(|e| self.cluster_err(e))?
        {
            Some(now) => Ok(now),
            None => Err(format!(
                "VM '{key}' ({}) no longer exists on this cluster",
                vm.uuid
            )),
        }
    }

    /// The `snapshot` argument, checked to be a snapshot of `vm` (`None` when not given).
    pub(super) async fn snapshot_of(&self, vm: &VirDomain) -> Result<Option<String>, String> {
        let Some(snap) = self
            .str_arg("snapshot")
            .map(str::trim)
            .filter(|x| !x.is_empty())
        else {
            return Ok(None);
        };
        if !is_uuid(snap) {
            return Err(format!(
                "'{snap}' is not a valid snapshot uuid (see snapshot_list)"
            ));
        }
        match self
            .state
            .cluster
            .get::<VirDomainSnapshot>(snap)
            .await
            .map_err(|e| self.cluster_err(e))?
        {
            None => Err(format!(
                "no snapshot with uuid {snap} on this cluster (see snapshot_list)"
            )),
            Some(found) if found.domain_uuid != vm.uuid => Err(format!(
                "snapshot {snap} belongs to another VM ({}), not to '{}'",
                found.domain_uuid, vm.name
            )),
            Some(_) => Ok(Some(snap.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_heuristics() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("web-01"));
        assert!(looks_like_uuid("123e4567-e89b-12d3-a456-42661417400z"));
        assert!(looks_like_uuid("123e4567-e89b-12d3-a456-4266141740"));
        assert!(!looks_like_uuid("web-frontend-01"));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// How `resolve_vm` treats a (trimmed) key: a uuid lookup, a refused malformed uuid, or a
    /// name lookup.
    #[derive(Debug, PartialEq)]
    enum Key {
        Uuid,
        Malformed,
        Name,
    }

    fn classify(key: &str) -> Key {
        if is_uuid(key) {
            Key::Uuid
        } else if looks_like_uuid(key) {
            Key::Malformed
        } else {
            Key::Name
        }
    }

    fn canonical() -> impl Strategy<Value = String> {
        (any::<u128>(), any::<bool>()).prop_map(|(n, upper)| {
            let text = uuid::Uuid::from_u128(n).hyphenated().to_string();
            if upper { text.to_uppercase() } else { text }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any string: the uuid path is taken exactly for canonical hyphenated uuids.
        #[test]
        fn uuid_exactly_when_canonical(key in ".{0,48}") {
            let canonical = uuid::Uuid::parse_str(&key)
                .map(|u| u.hyphenated().to_string() == key.to_ascii_lowercase())
                .unwrap_or(false);
            prop_assert_eq!(is_uuid(&key), canonical, "{:?}", key);
            prop_assert_eq!(classify(&key), classify(&key));
        }

        /// Canonical uuids (either case) are looked up as uuids.
        #[test]
        fn canonical_uuids_are_uuids(key in canonical()) {
            prop_assert_eq!(classify(&key), Key::Uuid);
        }

        /// A canonical uuid with one character spoiled is refused as malformed, never looked
        /// up as a name.
        #[test]
        fn spoiled_uuids_are_malformed(key in canonical(), at in 0usize..36, bad in "[g-zG-Z_. ]") {
            let mut chars: Vec<char> = key.chars().collect();
            chars[at] = bad.chars().next().unwrap_or('z');
            let spoiled: String = chars.into_iter().collect();
            prop_assert_eq!(classify(&spoiled), Key::Malformed, "{:?}", spoiled);
        }

        /// A uuid cut short (at least 30 characters kept) is refused as malformed.
        #[test]
        fn truncated_uuids_are_malformed(key in canonical(), keep in 30usize..36) {
            let cut = &key[..keep];
            prop_assume!(cut.matches('-').count() >= 3);
            prop_assert_eq!(classify(cut), Key::Malformed, "{:?}", cut);
        }

        /// Ordinary VM names (fewer than three dashes) are looked up by name.
        #[test]
        fn plain_names_are_names(key in "[A-Za-z0-9_. ]{1,20}(-[A-Za-z0-9_. ]{1,12}){0,2}") {
            prop_assert_eq!(classify(&key), Key::Name, "{:?}", key);
        }
    }
}
