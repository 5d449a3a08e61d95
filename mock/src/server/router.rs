//! The route table: `/rest/v1` (public and session-protected routes), the `/_sim` control
//! routes and the 404 fallback.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};

use super::auth::{login, logout, require_session};
use super::control::{sim_faults_get, sim_faults_put, sim_truth};
use super::mutations::{
    disk_create, disk_patch, snapshot_create, snapshot_delete, vm_action, vm_clone, vm_create,
    vm_delete, vm_export, vm_import, vm_patch,
};
use super::reads::{condition_filter, openapi, ping, read};
use super::respond::error_json;
use super::shared::{Kind, Shared};

macro_rules! read_routes {
    ($router:expr, $( $path:literal => $kind:expr ),* $(,)?) => {{
        let mut r = $router;
        $(
            r = r
                .route($path, get(|State(sh): State<Arc<Shared>>| async move { read(&sh, $kind, None) }))
                .route(
                    concat!($path, "/{id}"),
                    get(|State(sh): State<Arc<Shared>>, Path(id): Path<String>| async move {
                        read(&sh, $kind, Some(&id))
                    }),
                );
        )*
        r
    }};
}

/// Builds the complete router (REST API, control routes, 404 fallback).
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let protected: Router<Arc<Shared>> =
        Router::new()
            .route("/logout", post(logout))
            .route("/Condition/filter", get(condition_filter))
            .route(
                "/VirDomain/action",
                // A GET treats "action" as a VM uuid, like the real cluster: no such VM, `[]`.
                post(vm_action).get(|State(sh): State<Arc<Shared>>| async move {
                    read(&sh, Kind::VirDomain, Some("action"))
                }),
            )
            .route(
                "/VirDomain/{uuid}",
                get(
                    |State(sh): State<Arc<Shared>>, Path(id): Path<String>| async move {
                        read(&sh, Kind::VirDomain, Some(&id))
                    },
                )
                .patch(vm_patch)
                .delete(vm_delete),
            )
            .route(
                "/VirDomain/import",
                // Like "action", a GET treats "import" as a VM uuid: `[]`.
                post(vm_import).get(|State(sh): State<Arc<Shared>>| async move {
                    read(&sh, Kind::VirDomain, Some("import"))
                }),
            )
            .route(
                "/VirDomainBlockDevice",
                get(|State(sh): State<Arc<Shared>>| async move {
                    read(&sh, Kind::VirDomainBlockDevice, None)
                })
                .post(disk_create),
            )
            .route(
                "/VirDomainBlockDevice/{uuid}",
                get(
                    |State(sh): State<Arc<Shared>>, Path(id): Path<String>| async move {
                        read(&sh, Kind::VirDomainBlockDevice, Some(&id))
                    },
                )
                .patch(disk_patch),
            )
            .route("/VirDomain/{uuid}/clone", post(vm_clone))
            .route("/VirDomain/{uuid}/export", post(vm_export))
            .route(
                "/VirDomainSnapshot",
                get(|State(sh): State<Arc<Shared>>| async move {
                    read(&sh, Kind::VirDomainSnapshot, None)
                })
                .post(snapshot_create),
            )
            .route(
                "/VirDomainSnapshot/{uuid}",
                get(
                    |State(sh): State<Arc<Shared>>, Path(id): Path<String>| async move {
                        read(&sh, Kind::VirDomainSnapshot, Some(&id))
                    },
                )
                .delete(snapshot_delete),
            )
            .route(
                "/VirDomain",
                get(
                    |State(sh): State<Arc<Shared>>| async move { read(&sh, Kind::VirDomain, None) },
                )
                .post(vm_create),
            );
    let protected = read_routes!(protected,
        "/Cluster" => Kind::Cluster,
        "/Node" => Kind::Node,
        "/VirDomainStats" => Kind::VirDomainStats,
        "/VirDomainNetDevice" => Kind::VirDomainNetDevice,
        "/Condition" => Kind::Condition,
        "/Drive" => Kind::Drive,
        "/VirtualDisk" => Kind::VirtualDisk,
        "/ISO" => Kind::Iso,
        "/User" => Kind::User,
        "/Role" => Kind::Role,
        "/TaskTag" => Kind::TaskTag,
        "/VirDomainSnapshotSchedule" => Kind::SnapshotSchedule,
        "/DNSConfig" => Kind::Settings("DNSConfig"),
        "/TimeSource" => Kind::Settings("TimeSource"),
        "/TimeZone" => Kind::Settings("TimeZone"),
        "/AlertSMTPConfig" => Kind::Settings("AlertSMTPConfig"),
        "/AlertEmailTarget" => Kind::Settings("AlertEmailTarget"),
        "/AlertSyslogTarget" => Kind::Settings("AlertSyslogTarget"),
        "/NucleusKey" => Kind::Settings("NucleusKey"),
        "/GPU" => Kind::Settings("GPU"),
        "/Update" => Kind::Settings("Update"),
        "/MonitoringConfig" => Kind::Settings("MonitoringConfig"),
        "/OIDCConfig" => Kind::Settings("OIDCConfig"),
        "/Registration" => Kind::Settings("Registration"),
        "/RemoteClusterConnection" => Kind::Settings("RemoteClusterConnection"),
        "/VirDomainReplication" => Kind::Settings("VirDomainReplication"),
    )
    .route_layer(middleware::from_fn_with_state(
        shared.clone(),
        require_session,
    ));
    let rest = Router::new()
        .route("/login", post(login))
        .route("/ping", get(ping))
        .route("/openapi.json", get(openapi))
        .merge(protected);
    Router::new()
        .nest("/rest/v1", rest)
        .route("/_sim/truth", get(sim_truth))
        .route("/_sim/faults", get(sim_faults_get).put(sim_faults_put))
        .fallback(not_found)
        .with_state(shared)
}

/// Unknown routes: 404 `{"error"}`.
async fn not_found() -> Response {
    error_json(StatusCode::NOT_FOUND, "no such route")
}
