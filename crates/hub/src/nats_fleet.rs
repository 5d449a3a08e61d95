//! A hub replica's NATS side (issue #11): connects to NATS, watches the fleet's signed
//! registry and feeds it into the hub's own join path, so the catalog, `list_changed`, scopes,
//! confirmation and audit stay what clients know. `Joined` joins the cluster with a `nats:`
//! address, `ToolsChanged` re-lists, `Left` ends the link and forgets the cluster, `Expired`
//! ends it and marks the cluster down (an edge site whose uplink dropped stays listed), and
//! live registrations count as heartbeats. Every replica does the same from the same bucket.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use hyperfed_nats::{
    Caller, FleetName, FleetRevocations, LiveRegistrations, NatsConnection, Registration,
    RegistryConfig, RegistryEvent, RegistryWatch,
};
use hyperfed_protocol::{ClusterAlias, JoinRequest};

use crate::auth::Revocations;
use crate::config::NatsMode;
use crate::error::HubError;
use crate::fleet_audit::FleetAudit;
use crate::hub::Hub;
use crate::link::{NatsConnector, NatsLinks, SCHEME};
use crate::store::Store;

/// The worker token of each cluster this replica joined, presented on its heartbeats.
type Tokens = Arc<DashMap<String, String>>;

/// What the replica's registry feed needs once the hub exists.
pub(crate) struct Feed {
    conn: NatsConnection,
    fleet: FleetName,
    watch: RegistryWatch,
    caller: Arc<Caller>,
    links: NatsLinks,
}

/// Connects to NATS, opens the fleet's audit stream for `store` (records are mirrored into
/// it from now on) and starts watching the fleet's registry; returns the link connector.
pub(crate) async fn connect(
    mode: &NatsMode,
    secret: &hyperfed_protocol::Secret,
    store: &Store,
) -> Result<(NatsConnector, Feed), HubError> {
    let nats = |e: &dyn std::fmt::Display| HubError::Config(format!("NATS: {e}"));
    let conn = NatsConnection::connect(&mode.options)
        .await
        .map_err(|e| nats(&e))?;
    let audit = FleetAudit::open(&conn, &mode.fleet, store.replica_id()?).await?;
    store.set_fleet_audit(audit);
    let watch = RegistryWatch::start(&conn, &mode.fleet, secret, RegistryConfig::default())
        .await
        .map_err(|e| nats(&e))?;
    let caller = Caller::new(&conn, &mode.fleet, secret, watch.live())
        .await
        .map_err(|e| nats(&e))?;
    let caller = Arc::new(caller);
    let links: NatsLinks = Arc::new(DashMap::new());
    let connector = NatsConnector::new(caller.clone(), links.clone());
    tracing::info!(fleet = %mode.fleet, "hub replica on NATS");
    Ok((
        connector,
        Feed {
            conn,
            fleet: mode.fleet.clone(),
            watch,
            caller,
            links,
        },
    ))
}

/// Runs the registry feed until the hub shuts down.
pub(crate) fn spawn(hub: Arc<Hub>, feed: Feed) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(hub, feed))
}

async fn run(hub: Arc<Hub>, feed: Feed) {
    let Feed {
        conn,
        fleet,
        mut watch,
        caller,
        links,
    } = feed;
    let tokens: Tokens = Arc::new(DashMap::new());
    let beats = tokio::spawn(heartbeats(hub.clone(), watch.live(), tokens.clone()));
    let revocations = hub
        .key()
        .revocations()
        .map(|list| tokio::spawn(sync_revocations(conn.clone(), fleet.clone(), list)));
    let stop = hub.shutdown_token().clone();
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => break,
            e = watch.next() => e,
        };
        let Some(event) = event else {
            tracing::error!("the NATS registry watch stopped; this replica sees no more joins");
            break;
        };
        match event {
            RegistryEvent::Joined(reg) => {
                let (hub, tokens) = (hub.clone(), tokens.clone());
                tokio::spawn(async move {
                    if let Some(token) = join(&hub, &reg).await {
                        tokens.insert(reg.alias.clone(), token);
                    }
                });
            }
            RegistryEvent::ToolsChanged(reg) => {
                if let Some(link) = links.get(&reg.alias).and_then(|l| l.upgrade()) {
                    link.tools_changed();
                }
            }
            RegistryEvent::Left { alias } => {
                hub.metrics().left();
                tokens.remove(&alias);
                gone(&hub, &links, &alias, "the worker left")
            }
            RegistryEvent::Expired { alias } => {
                // A site whose uplink dropped stays in the fleet, down, until it registers
                // again (Joined re-joins it) or leaves.
                tokens.remove(&alias);
                let reason = "the worker's registration expired (its heartbeats stopped)";
                end_link(&links, &alias, reason);
                hub.mark_down(&alias, reason);
            }
        }
    }
    beats.abort();
    if let Some(r) = revocations {
        r.abort();
    }
    drop(caller);
    drop(conn);
}

/// Joins a verified registration through the hub's join path (as an HTTP join would);
/// returns the worker token its heartbeats present.
async fn join(hub: &Arc<Hub>, reg: &Registration) -> Option<String> {
    match ClusterAlias::normalise(&reg.alias) {
        Ok(a) if a.to_string() == reg.alias => {}
        _ => {
            tracing::warn!(alias = %reg.alias, "refused a NATS registration: the alias is not in normal form (lower case, 16 characters at most)");
            return None;
        }
    }
    let req = JoinRequest::sign(
        &hub.config().secret,
        &reg.alias,
        &reg.cluster_uuid,
        &reg.cluster_name,
        &format!("{SCHEME}{}", reg.alias),
    );
    match hub.join(req).await {
        Ok(joined) => Some(joined.worker_token),
        Err(e) => {
            tracing::warn!(alias = %reg.alias, error = ?e, "a NATS registration could not join");
            None
        }
    }
}

fn end_link(links: &NatsLinks, alias: &str, reason: &'static str) {
    if let Some((_, link)) = links.remove(alias)
        && let Some(link) = link.upgrade()
    {
        link.end(reason);
    }
}

fn gone(hub: &Arc<Hub>, links: &NatsLinks, alias: &str, reason: &'static str) {
    end_link(links, alias, reason);
    tracing::info!(cluster = %alias, reason, "cluster gone from the NATS registry");
    hub.forget(alias);
}

/// How often a replica offers the ids revoked in its own data directory to the fleet.
const REVOCATION_SYNC: Duration = Duration::from_secs(1);

/// Keeps this replica's revocation list and the fleet's in step: ids revoked fleet-wide are
/// refused here at once, and ids revoked here (`hyperfed token revoke --data DIR` on this
/// replica's directory) are offered to the fleet within a second.
async fn sync_revocations(conn: NatsConnection, fleet: FleetName, list: Arc<Revocations>) {
    let revoked = loop {
        match FleetRevocations::open(&conn, &fleet).await {
            Ok(r) => break r,
            Err(e) => {
                tracing::warn!(error = %e, "the fleet's revocation list is unavailable; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    let mut ids = revoked.watch();
    let mut tick = tokio::time::interval(REVOCATION_SYNC);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            id = ids.recv() => match id {
                Some(id) => list.add_fleet(id),
                None => return,
            },
            _ = tick.tick() => {
                for id in list.local_only() {
                    match revoked.revoke(&id).await {
                        Ok(()) => list.add_fleet(id),
                        Err(e) => tracing::warn!(error = %e, "could not revoke a token fleet-wide; retrying"),
                    }
                }
            }
        }
    }
}

/// Live registrations count as heartbeats through the hub's own heartbeat path (the KV
/// entry's expiry is the real health check; this keeps the hub's monitor from marking them down).
async fn heartbeats(hub: Arc<Hub>, live: LiveRegistrations, tokens: Tokens) {
    let period = (hub.config().heartbeat_interval / 2).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for alias in live.aliases() {
            let Some(token) = tokens.get(&alias).map(|t| t.clone()) else {
                continue;
            };
            match hub.heartbeat(&token) {
                Some(next) => {
                    tokens.insert(alias, next.worker_token);
                }
                None => {
                    tokens.remove(&alias);
                }
            }
        }
    }
}
