//! Accounts: the built-in roles and the users (the administrator plus a seeded few).

use rand::Rng;

use super::draw::Generator;
use crate::model::*;

impl Generator {
    /// The five built-in roles.
    pub(super) fn roles(&mut self) -> Vec<Role> {
        const ROLE_DEFS: &[(&str, &str, &[&str])] = &[
            ("Admin", "Full control of the cluster", &["*"]),
            ("Read Only", "View everything, change nothing", &["Read"]),
            (
                "VM Power Controls",
                "Start, stop and migrate VMs",
                &["VirDomainAction", "Read"],
            ),
            (
                "Backup",
                "Snapshot, clone and export VMs",
                &[
                    "VirDomainSnapshotCreate2",
                    "VirDomainCloneSnapshot",
                    "VirDomainExport",
                    "Read",
                ],
            ),
            (
                "Cluster Settings",
                "Change cluster settings",
                &["ClusterUpdate", "Read"],
            ),
        ];
        ROLE_DEFS
            .iter()
            .map(|(name, description, perms)| Role {
                uuid: self.uuid(),
                name: (*name).into(),
                description: (*description).into(),
                permissions: perms
                    .iter()
                    .map(|p| Permission {
                        function_name: (*p).into(),
                    })
                    .collect(),
                oidc_name: String::new(),
            })
            .collect()
    }

    /// The administrator and one to four more users.
    pub(super) fn users(&mut self, roles: &[Role]) -> Vec<User> {
        const PEOPLE: &[(&str, &str, usize)] = &[
            ("jdoe", "Jane Doe", 0),
            ("ops-readonly", "Operations (read only)", 1),
            ("backup-svc", "Backup service account", 3),
            ("helpdesk", "Helpdesk", 2),
        ];
        let mut users = vec![User {
            uuid: self.uuid(),
            username: "admin".into(),
            full_name: "Administrator".into(),
            role_uuids: vec![roles[0].uuid.clone()],
            session_limit: 100,
        }];
        let extra = self.rng.random_range(1..=PEOPLE.len());
        for (username, full_name, role) in &PEOPLE[..extra] {
            users.push(User {
                uuid: self.uuid(),
                username: (*username).into(),
                full_name: (*full_name).into(),
                role_uuids: vec![roles[*role].uuid.clone()],
                session_limit: 10,
            });
        }
        users
    }
}
