//! Data protection: each VM's seeded snapshots (each embedding the VM as it was) and the
//! snapshot schedules VMs point at.

use rand::Rng;

use super::draw::{Generator, MIB, chance, pick};
use crate::archetype::Archetype;
use crate::model::*;

impl Generator {
    /// Adds `vm` to `vms` after giving it its seeded snapshots (each embeds the VM as it was).
    pub(super) fn snapshots_for(
        &mut self,
        mut vm: VirDomain,
        vms: &mut Vec<VirDomain>,
        snapshots: &mut Vec<Snapshot>,
    ) {
        let count = match self.archetype {
            Archetype::Edge => self.rng.random_range(0..=2),
            Archetype::Datacenter => self.rng.random_range(0..=3),
            Archetype::Dr => self.rng.random_range(1..=4),
            Archetype::Lab => self.rng.random_range(2..=8),
        };
        let mut at = vm.created;
        for i in 0..count {
            at += self.rng.random_range(3_600..1_500_000);
            let automated = chance(&mut self.rng, 0.5) || !vm.source_vir_domain_uuid.is_empty();
            let uuid = self.uuid();
            vm.snapshot_serial_number += 1;
            let serial = vm.snapshot_serial_number;
            let device_snapshots = vm
                .block_devs
                .iter()
                .filter(|d| d.kind != "IDE_CDROM")
                .map(|d| DeviceSnapshot {
                    uuid: d.uuid.clone(),
                    timestamp: at,
                    serial_number: serial,
                    block_count_diff: if i == 0 { d.allocation / MIB } else { 0 },
                    identifier: format!("{}:{serial}", d.uuid),
                    checksum: String::new(),
                })
                .collect();
            let label = if automated {
                format!("Automated snapshot {}", i + 1)
            } else {
                format!(
                    "{} {}",
                    pick(
                        &mut self.rng,
                        &["before-patch", "pre-upgrade", "baseline", "manual"]
                    ),
                    i + 1
                )
            };
            let snapshot = Snapshot {
                uuid: uuid.clone(),
                domain_uuid: vm.uuid.clone(),
                timestamp: at,
                label,
                domain: Box::new(vm.clone()),
                device_snapshots,
                unavailable: false,
                kind: if automated { "AUTOMATED" } else { "USER" }.into(),
                block_count_diff: self.rng.random_range(0..100_000),
                automated_trigger_timestamp: if automated { at } else { 0 },
                local_retain_until_timestamp: if automated { at + 7 * 86_400 } else { 0 },
                state: "CREATED".into(),
                quiesced: vm.guest_agent_state == "AVAILABLE",
                remote_retain_until_timestamp: if automated { at + 30 * 86_400 } else { 0 },
                block_count_diff_from_serial_number: -1,
                replication: true,
            };
            vm.snap_uuids.push(uuid);
            vm.snapshot_list_serial_number += 1;
            snapshots.push(snapshot);
        }
        vms.push(vm);
    }

    /// Snapshot schedules (drawn after everything else).
    pub(super) fn schedules(&mut self) -> Vec<SnapshotSchedule> {
        const DEFS: &[(&str, &str, &str, i64)] = &[
            ("Daily-7d", "Daily", "FREQ=DAILY;INTERVAL=1", 7 * 86_400),
            ("Hourly-24h", "Hourly", "FREQ=HOURLY;INTERVAL=1", 86_400),
            (
                "Weekly-4w",
                "Weekly",
                "FREQ=WEEKLY;INTERVAL=1;BYDAY=SU",
                28 * 86_400,
            ),
        ];
        let count = match self.archetype {
            Archetype::Edge => self.rng.random_range(0..=1),
            Archetype::Datacenter => self.rng.random_range(1..=3),
            Archetype::Dr => self.rng.random_range(1..=2),
            Archetype::Lab => self.rng.random_range(0..=2),
        };
        DEFS[..count]
            .iter()
            .map(|(name, rule_name, rrule, keep)| {
                let hour = self.rng.random_range(0..6);
                SnapshotSchedule {
                    uuid: self.uuid(),
                    name: (*name).into(),
                    rrules: vec![RecurrenceRule {
                        uuid: self.uuid(),
                        dtstart: format!("2025-01-01 0{hour}:00:00"),
                        rrule: (*rrule).into(),
                        local_retention_duration_seconds: *keep,
                        name: (*rule_name).into(),
                        remote_retention_duration_seconds: 0,
                        replication: true,
                    }],
                }
            })
            .collect()
    }

    /// Points some non-replica VMs at a schedule.
    pub(super) fn assign_schedules(
        &mut self,
        vms: &mut [VirDomain],
        schedules: &[SnapshotSchedule],
    ) {
        if schedules.is_empty() {
            return;
        }
        let p = match self.archetype {
            Archetype::Datacenter => 0.5,
            Archetype::Edge => 0.4,
            _ => 0.25,
        };
        for vm in vms
            .iter_mut()
            .filter(|v| v.source_vir_domain_uuid.is_empty())
        {
            if chance(&mut self.rng, p) {
                vm.snapshot_schedule_uuid = pick(&mut self.rng, schedules).uuid.clone();
            }
        }
    }
}
