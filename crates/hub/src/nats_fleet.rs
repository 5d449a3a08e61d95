//! A hub replica's NATS side (issue #11): connects to NATS, watches the fleet's signed
//! registry and feeds it into the hub's own join path, so the catalog, `list_changed`, scopes,
//! confirmation and audit stay what clients know. `Joined` joins the cluster with a `nats:`
//! address, `ToolsChanged` re-lists, `Left`/`Expired` end the link and forget the cluster, and
//! live registrations count as heartbeats. Every replica does the same from the same bucket.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use hyperfed_nats::{
    Caller, LiveRegistrations, NatsConnection, Registration, RegistryConfig, RegistryEvent,
    RegistryWatch,
};
use hyperfed_protocol::join::unix_now;
use hyperfed_protocol::{ClusterAlias, JoinRequest};

use crate::config::NatsMode;
use crate::error::HubError;
use crate::hub::Hub;
use crate::link::{NatsConnector, NatsLinks, SCHEME};

/// What the replica's registry feed needs once the hub exists.
pub(crate) struct Feed {
    conn: NatsConnection,
    watch: RegistryWatch,
    caller: Arc<Caller>,
    links: NatsLinks,
}

/// Connects to NATS and starts watching the fleet's registry; returns the link connector.
pub(crate) async fn connect(
    mode: &NatsMode,
    secret: &hyperfed_protocol::Secret,
) -> Result<(NatsConnector, Feed), HubError> {
    let nats = |e: &dyn std::fmt::Display| HubError::Config(format!("NATS: {e}"));
    let conn = NatsConnection::connect(&mode.options)
        .await
        .map_err(|e| nats(&e))?;
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
        mut watch,
        caller,
        links,
    } = feed;
    let beats = tokio::spawn(heartbeats(hub.clone(), watch.live(), links.clone()));
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
                let hub = hub.clone();
                tokio::spawn(async move { join(&hub, &reg).await });
            }
            RegistryEvent::ToolsChanged(reg) => {
                if let Some(link) = links.get(&reg.alias).and_then(|l| l.upgrade()) {
                    link.tools_changed();
                }
            }
            RegistryEvent::Left { alias } => gone(&hub, &links, &alias, "the worker left"),
            RegistryEvent::Expired { alias } => {
                gone(&hub, &links, &alias, "the worker's heartbeats stopped")
            }
        }
    }
    beats.abort();
    drop(caller);
    drop(conn);
}

/// Joins a verified registration through the hub's join path (as an HTTP join would).
async fn join(hub: &Arc<Hub>, reg: &Registration) {
    match ClusterAlias::normalise(&reg.alias) {
        Ok(a) if a.to_string() == reg.alias => {}
        _ => {
            tracing::warn!(alias = %reg.alias, "refused a NATS registration: the alias is not in normal form (lower case, 16 characters at most)");
            return;
        }
    }
    let req = JoinRequest::sign(
        &hub.config().secret,
        &reg.alias,
        &reg.cluster_uuid,
        &reg.cluster_name,
        &format!("{SCHEME}{}", reg.alias),
    );
    if let Err(e) = hub.join(req).await {
        tracing::warn!(alias = %reg.alias, error = ?e, "a NATS registration could not join");
    }
}

fn gone(hub: &Arc<Hub>, links: &NatsLinks, alias: &str, reason: &'static str) {
    if let Some((_, link)) = links.remove(alias)
        && let Some(link) = link.upgrade()
    {
        link.end(reason);
    }
    tracing::info!(cluster = %alias, reason, "cluster gone from the NATS registry");
    hub.forget(alias);
}

/// Live registrations with a live link count as heartbeats (the KV entry's expiry is the
/// real health check; this keeps the hub's own monitor from marking them down).
async fn heartbeats(hub: Arc<Hub>, live: LiveRegistrations, links: NatsLinks) {
    let period = (hub.config().heartbeat_interval / 2).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = unix_now();
        let mut came_back = false;
        links.retain(|_, l| l.strong_count() > 0);
        for alias in live.aliases() {
            if links.contains_key(&alias) && hub.registry().heartbeat(&alias, now) == Some(true) {
                came_back = true;
            }
        }
        if came_back {
            hub.tools_changed();
        }
    }
}
