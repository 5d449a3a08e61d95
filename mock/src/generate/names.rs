//! Name tables the generator draws from: VM roles (name prefix, OS family, tags, sizes),
//! operating systems, city and site kinds for cluster names, and HyperCore versions. Plain data:
//! the order of every table is part of the seeded output.

/// What a VM is for; drives its name, OS, size and tags.
pub(super) struct VmRole {
    /// Name prefix (`web`, `db`, ...), numbered per cluster.
    pub(super) prefix: &'static str,
    /// Windows guest (OS, machine type and NIC model follow).
    pub(super) windows: bool,
    /// Comma-separated tags.
    pub(super) tags: &'static str,
    /// vCPU counts to pick from.
    pub(super) vcpu: &'static [i64],
    /// Memory sizes in GiB to pick from.
    pub(super) mem_gib: &'static [i64],
}

pub(super) const ROLES: &[VmRole] = &[
    VmRole {
        prefix: "web",
        windows: false,
        tags: "prod,web",
        vcpu: &[2, 4],
        mem_gib: &[2, 4, 8],
    },
    VmRole {
        prefix: "db",
        windows: false,
        tags: "prod,db",
        vcpu: &[4, 8, 16],
        mem_gib: &[16, 32, 64],
    },
    VmRole {
        prefix: "sql",
        windows: true,
        tags: "prod,db,windows",
        vcpu: &[4, 8],
        mem_gib: &[16, 32],
    },
    VmRole {
        prefix: "app",
        windows: false,
        tags: "prod,app",
        vcpu: &[2, 4, 8],
        mem_gib: &[4, 8, 16],
    },
    VmRole {
        prefix: "dc",
        windows: true,
        tags: "infra,ad",
        vcpu: &[2],
        mem_gib: &[4, 8],
    },
    VmRole {
        prefix: "file",
        windows: true,
        tags: "infra,file",
        vcpu: &[2, 4],
        mem_gib: &[8],
    },
    VmRole {
        prefix: "print",
        windows: true,
        tags: "infra",
        vcpu: &[1, 2],
        mem_gib: &[2, 4],
    },
    VmRole {
        prefix: "mon",
        windows: false,
        tags: "infra,monitoring",
        vcpu: &[2],
        mem_gib: &[4],
    },
    VmRole {
        prefix: "k8s-worker",
        windows: false,
        tags: "prod,k8s",
        vcpu: &[4, 8],
        mem_gib: &[16, 32],
    },
    VmRole {
        prefix: "jump",
        windows: false,
        tags: "infra",
        vcpu: &[1],
        mem_gib: &[1, 2],
    },
    VmRole {
        prefix: "backup",
        windows: false,
        tags: "infra,backup",
        vcpu: &[2, 4],
        mem_gib: &[8],
    },
    VmRole {
        prefix: "rds",
        windows: true,
        tags: "prod,vdi,windows",
        vcpu: &[4, 8],
        mem_gib: &[16, 32],
    },
    VmRole {
        prefix: "dev",
        windows: false,
        tags: "dev",
        vcpu: &[1, 2, 4],
        mem_gib: &[2, 4],
    },
    VmRole {
        prefix: "test",
        windows: false,
        tags: "test",
        vcpu: &[1, 2],
        mem_gib: &[1, 2, 4],
    },
];

pub(super) const EDGE_ROLES: &[VmRole] = &[
    VmRole {
        prefix: "pos",
        windows: true,
        tags: "prod,pos",
        vcpu: &[2],
        mem_gib: &[4],
    },
    VmRole {
        prefix: "nvr",
        windows: false,
        tags: "prod,cameras",
        vcpu: &[4],
        mem_gib: &[8],
    },
    VmRole {
        prefix: "dc",
        windows: true,
        tags: "infra,ad",
        vcpu: &[2],
        mem_gib: &[4],
    },
    VmRole {
        prefix: "file",
        windows: true,
        tags: "infra,file",
        vcpu: &[2],
        mem_gib: &[4, 8],
    },
    VmRole {
        prefix: "inventory",
        windows: false,
        tags: "prod,app",
        vcpu: &[2],
        mem_gib: &[2, 4],
    },
    VmRole {
        prefix: "router",
        windows: false,
        tags: "infra,network",
        vcpu: &[1],
        mem_gib: &[1],
    },
];

pub(super) const LINUX_OS: &[&str] = &["os_other"];
pub(super) const WINDOWS_OS: &[&str] = &[
    "os_windows_server_2016",
    "os_windows_server_2019",
    "os_windows_server_2019",
    "os_windows_server_2022",
];
pub(super) const CITIES: &[&str] = &[
    "Frankfurt",
    "Dallas",
    "Ashburn",
    "Amsterdam",
    "Singapore",
    "Chicago",
    "London",
    "Toronto",
    "Phoenix",
    "Sydney",
    "Paris",
    "Denver",
];
pub(super) const EDGE_KINDS: &[&str] = &["Store", "Branch", "Clinic", "Site", "Plant", "Depot"];
pub(super) const LAB_KINDS: &[&str] = &["Dev", "QA", "Test", "Sandbox", "Training"];
pub(super) const ICOS_VERSIONS: &[&str] = &["9.4.30.217736", "9.4.17.215487", "9.6.19.223352"];
