//! Reads: every `GET` collection (an array; one record by id), the cache of encoded whole
//! collections, live VM statistics, the condition filter, `/ping` and `/openapi.json`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::respond::{body_response, json_response, ser};
use super::shared::{Kind, Shared, read_state};
use crate::model::{Iso, IsoMount, VirDomainStats};
use crate::state::SimState;

/// `GET /ping` (no auth).
pub(super) async fn ping() -> Response {
    ser(&json!({ "status": "Active" }))
}

/// `GET /openapi.json` (no auth).
pub(super) async fn openapi(State(sh): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, sh.openapi.to_vec())
}

/// The JSON of the items whose key is `id` (all when `id` is None).
fn filtered<'a, T: Serialize + 'a>(
    items: impl Iterator<Item = &'a T>,
    id: Option<&str>,
    key: impl Fn(&T) -> &str,
) -> Option<Vec<u8>> {
    let picked: Vec<&T> = items.filter(|x| id.is_none_or(|id| key(x) == id)).collect();
    serde_json::to_vec(&picked).ok()
}

/// A GET on `kind`: whole collections are encoded once per state version.
pub(super) fn read(sh: &Shared, kind: Kind, id: Option<&str>) -> Response {
    let now = Instant::now();
    let state = read_state(sh, now);
    // A whole collection that does not depend on the clock is encoded once per state version:
    // a fleet of simulators polled by many workers then costs next to nothing to serve.
    let cacheable = id.is_none() && !matches!(kind, Kind::TaskTag | Kind::VirDomainStats);
    if !cacheable {
        return body_response(encode(&state, kind, id, now));
    }
    let version = sh.version.load(Ordering::Acquire);
    if let Some((v, body)) = sh.bodies.lock().get(&kind)
        && *v == version
    {
        return json_response(StatusCode::OK, body.clone());
    }
    let Some(body) = encode(&state, kind, None, now).map(Bytes::from) else {
        return body_response(None);
    };
    drop(state);
    sh.bodies.lock().insert(kind, (version, body.clone()));
    json_response(StatusCode::OK, body)
}

/// The JSON of a GET on `kind` (one record when `id` is given), None if encoding failed.
fn encode(state: &SimState, kind: Kind, id: Option<&str>, now: Instant) -> Option<Vec<u8>> {
    let c = &state.cluster;
    match kind {
        Kind::Cluster => filtered(std::iter::once(&c.cluster), id, |x| &x.uuid),
        Kind::Node => filtered(c.nodes.iter(), id, |x| &x.uuid),
        Kind::VirDomain => filtered(c.vms.iter(), id, |x| &x.uuid),
        Kind::VirDomainStats => {
            let stats: Vec<VirDomainStats> = c
                .stats
                .iter()
                .filter(|s| id.is_none_or(|id| s.uuid == id))
                .map(|s| {
                    live_stats(
                        s,
                        c.vms
                            .iter()
                            .find(|v| v.uuid == s.uuid)
                            .map(|v| v.state.as_str()),
                    )
                })
                .collect();
            serde_json::to_vec(&stats).ok()
        }
        Kind::VirDomainSnapshot => filtered(c.snapshots.iter(), id, |x| &x.uuid),
        Kind::VirDomainBlockDevice => {
            filtered(c.vms.iter().flat_map(|v| v.block_devs.iter()), id, |x| {
                &x.uuid
            })
        }
        Kind::VirDomainNetDevice => {
            filtered(c.vms.iter().flat_map(|v| v.net_devs.iter()), id, |x| {
                &x.uuid
            })
        }
        Kind::Condition => filtered(c.conditions.iter(), id, |x| &x.name),
        Kind::Drive => filtered(c.nodes.iter().flat_map(|n| n.drives.iter()), id, |x| {
            &x.uuid
        }),
        Kind::VirtualDisk => filtered(c.virtual_disks.iter(), id, |x| &x.uuid),
        Kind::Iso => {
            let isos: Vec<Iso> = c
                .isos
                .iter()
                .filter(|i| id.is_none_or(|id| i.uuid == id))
                .map(|i| {
                    let mut iso = i.clone();
                    iso.mounts = c
                        .vms
                        .iter()
                        .filter(|v| {
                            v.block_devs
                                .iter()
                                .any(|d| d.kind == "IDE_CDROM" && d.path == i.path)
                        })
                        .map(|v| IsoMount {
                            vm_uuid: v.uuid.clone(),
                            vm_name: v.name.clone(),
                        })
                        .collect();
                    iso
                })
                .collect();
            serde_json::to_vec(&isos).ok()
        }
        Kind::User => filtered(c.users.iter(), id, |x| &x.uuid),
        Kind::Role => filtered(c.roles.iter(), id, |x| &x.uuid),
        Kind::SnapshotSchedule => filtered(c.schedules.iter(), id, |x| &x.uuid),
        Kind::Settings(name) => filtered(
            c.settings.get(name).into_iter().flatten(),
            id,
            |x: &Value| x["uuid"].as_str().unwrap_or_default(),
        ),
        Kind::TaskTag => match id {
            Some(tag) => serde_json::to_vec(&state.task_get(tag, now)).ok(),
            None => serde_json::to_vec(&state.task_list(now)).ok(),
        },
    }
}

/// Stats as served: a VM that is not running uses no CPU, network or disk.
fn live_stats(stats: &VirDomainStats, vm_state: Option<&str>) -> VirDomainStats {
    let mut s = stats.clone();
    if vm_state != Some("RUNNING") {
        s.cpu_usage = 0.0;
        s.rx_bit_rate = 0;
        s.tx_bit_rate = 0;
        for v in &mut s.vsd_stats {
            for r in &mut v.rates {
                r.millireads_per_second = 0;
                r.milliwrites_per_second = 0;
                r.read_kibibytes_per_second = 0;
                r.write_kibibytes_per_second = 0;
            }
        }
    }
    s
}

/// `GET /Condition/filter?includeSet=&includeNotOK=`.
pub(super) async fn condition_filter(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let (include_set, include_not_ok) = (flag("includeSet"), flag("includeNotOK"));
    let state = read_state(&sh, Instant::now());
    let list: Vec<_> = state
        .cluster
        .conditions
        .iter()
        .filter(|c| {
            (!include_set && !include_not_ok)
                || (include_set && c.value)
                || (include_not_ok && !c.is_ok)
        })
        .collect();
    ser(&list)
}
