//! Steps shared by every action (the confirmation gate, bounded waiting with progress) and
//! the snapshot, clone and export tools.

use std::future::Future;
use std::time::Instant;

use hypercore::model::TaskResult;
use hypercore::{CloneSpec, ExportSpec};
use hyperfed_protocol::redact_uri;
use serde_json::{Map, Value, json};

use super::shape::{fill, is_uuid, n, redact_words, s, str_arg, vm_brief, wants_wait};
use super::{ActionGuard, ProgressSink, ToolResult, WorkerState};
use crate::confirm::Binding;

impl WorkerState {
    /// Without a token: issues one and returns the preview. With one: redeems it or refuses.
    pub(super) fn confirm_gate(
        &self,
        a: &Map<String, Value>,
        binding: Binding,
        preview: impl FnOnce() -> Value,
    ) -> Result<Option<Value>, String> {
        match str_arg(a, "confirm_token") {
            Some(token) => {
                self.confirmations
                    .redeem(token, &binding)
                    .map_err(|e| e.to_string())?;
                Ok(None)
            }
            None => {
                let token = self.confirmations.issue(binding);
                Ok(Some(json!({
                    "confirmation_required": true,
                    "confirm_token": token,
                    "expires_in_s": self.confirmations.ttl().as_secs(),
                    "preview": preview(),
                    "message": "Nothing was changed. This action is destructive: repeat the same call with confirm_token to execute it.",
                })))
            }
        }
    }

    /// Takes this cluster's action lock (one mutation at a time per cluster, held until its
    /// task ends); the flag says whether another action had to finish first.
    pub(super) async fn begin_action(&self) -> Result<(ActionGuard, bool), String> {
        if let Ok(guard) = self.action_lock.clone().try_lock_owned() {
            return Ok((guard, false));
        }
        match tokio::time::timeout(self.wait_timeout, self.action_lock.clone().lock_owned()).await {
            Ok(guard) => Ok((guard, true)),
            Err(_) => Err(format!(
                "cluster '{}' is busy: another action has been running for over {} s; try again later",
                self.cluster_label(),
                self.wait_timeout.as_secs()
            )),
        }
    }

    /// Keeps the action lock until task `tag` ends (or the wait bound passes), in the background.
    pub(super) fn release_when_done(&self, tag: &str, guard: ActionGuard) {
        if tag.is_empty() {
            return;
        }
        let cluster = self.cluster.clone();
        let (tag, poll, bound) = (tag.to_owned(), self.poll_interval, self.wait_timeout);
        tokio::spawn(async move {
            let started = Instant::now();
            while started.elapsed() < bound {
                match cluster.get_one("TaskTag", &tag).await {
                    Ok(Some(t)) if matches!(s(&t, "state").as_str(), "QUEUED" | "RUNNING") => {}
                    _ => break,
                }
                tokio::time::sleep(poll).await;
            }
            // The task's effects are in place now: the next read must see them.
            cluster.invalidate();
            drop(guard);
        });
    }

    /// Takes the action slot, submits `submit` (a future: nothing is sent before the slot is
    /// held), waits for its task as `a` asks, lets `decorate` add the tool's own fields and
    /// stamps `waited_ms`. `scrub` is applied to the cluster's and the wait's error messages.
    pub(super) async fn run_task(
        &self,
        a: &Map<String, Value>,
        progress: &ProgressSink,
        submit: impl Future<Output = hypercore::Result<TaskResult>>,
        scrub: impl Fn(String) -> String,
        decorate: impl FnOnce(&mut Value, &TaskResult),
    ) -> ToolResult {
        let (guard, _) = self.begin_action().await?;
        let started = Instant::now();
        let task = submit.await.map_err(|e| scrub(self.cluster_err(e)))?;
        let mut out = self
            .finish(&task.task_tag, a, progress, started, guard)
            .await
            .map_err(&scrub)?;
        decorate(&mut out, &task);
        out["waited_ms"] = json!(started.elapsed().as_millis() as u64);
        Ok(out)
    }

    /// Waits for a task (unless `wait` is false) and shapes the common action result.
    pub(super) async fn finish(
        &self,
        tag: &str,
        a: &Map<String, Value>,
        progress: &ProgressSink,
        started: Instant,
        guard: ActionGuard,
    ) -> ToolResult {
        if tag.is_empty() {
            return Ok(json!({"task_tag": "", "state": "COMPLETE"}));
        }
        if !wants_wait(a) {
            self.release_when_done(tag, guard);
            return Ok(
                json!({"task_tag": tag, "state": "QUEUED", "message": "not waiting; poll task_status with this task_tag"}),
            );
        }
        let mut last_pct = -1.0;
        loop {
            let t = self
                .cluster
                .get_one("TaskTag", tag)
                .await
                .map_err(|e| self.cluster_err(e))?;
            let Some(t) = t else {
                // An unknown tag counts as done (HyperCore forgets finished tasks).
                return Ok(json!({"task_tag": tag, "state": "COMPLETE"}));
            };
            let state = s(&t, "state");
            let pct = n(&t, "progressPercent") as f64;
            match state.as_str() {
                "COMPLETE" => {
                    progress.report(100.0, "COMPLETE".into()).await;
                    return Ok(json!({"task_tag": tag, "state": "COMPLETE"}));
                }
                "ERROR" | "UNINITIALIZED" => {
                    let msg = fill(&s(&t, "formattedMessage"), t.get("messageParameters"));
                    return Err(format!(
                        "HyperCore task {tag} ended in {state}: {}",
                        if msg.is_empty() {
                            "no message given".to_owned()
                        } else {
                            redact_words(&msg)
                        }
                    ));
                }
                _ => {}
            }
            if pct > last_pct {
                last_pct = pct;
                progress
                    .report(pct.min(99.0), format!("task {tag} {state} {pct:.0}%"))
                    .await;
            }
            if started.elapsed() >= self.wait_timeout {
                return Ok(json!({
                    "task_tag": tag,
                    "state": state,
                    "timed_out": true,
                    "message": format!("still {state} after {} s; poll task_status with this task_tag", self.wait_timeout.as_secs()),
                }));
            }
            if !progress.pause(self.poll_interval).await {
                self.release_when_done(tag, guard);
                return Ok(json!({
                    "task_tag": tag,
                    "state": state,
                    "message": "the request was cancelled; the task continues on the cluster (see task_status)",
                }));
            }
        }
    }

    pub(super) async fn snapshot_create(
        &self,
        a: &Map<String, Value>,
        progress: &ProgressSink,
    ) -> ToolResult {
        let vm = self
            .resolve_vm_fresh(str_arg(a, "vm").unwrap_or_default())
            .await?;
        let label = str_arg(a, "label").unwrap_or_default();
        let vm_uuid = s(&vm, "uuid");
        let submit = self.cluster.client().create_snapshot(&vm_uuid, label);
        self.run_task(
            a,
            progress,
            submit,
            |e| e,
            |out, task| {
                out["created_uuid"] = json!(task.created_uuid);
                out["snapshot"] = json!({"uuid": task.created_uuid, "label": label});
                out["vm"] = vm_brief(&vm);
            },
        )
        .await
    }

    pub(super) async fn snapshot_delete(
        &self,
        a: &Map<String, Value>,
        progress: &ProgressSink,
    ) -> ToolResult {
        let snap_id = str_arg(a, "snapshot").unwrap_or_default().trim();
        if !is_uuid(snap_id) {
            return Err(format!(
                "'{snap_id}' is not a valid snapshot uuid (expected 8-4-4-4-12 hex digits; see snapshot_list)"
            ));
        }
        let Some(snap) = self
            .cluster
            .get_one("VirDomainSnapshot", snap_id)
            .await
            .map_err(|e| self.cluster_err(e))?
        else {
            return Err(format!(
                "no snapshot with uuid {snap_id} on this cluster (see snapshot_list)"
            ));
        };
        let vm_uuid = s(&snap, "domainUUID");
        let vm = self
            .cluster
            .get_one("VirDomain", &vm_uuid)
            .await
            .ok()
            .flatten();
        let id = self.identity();
        let binding = Binding::new(&id.uuid, "snapshot_delete", snap_id, a);
        if let Some(resp) = self.confirm_gate(a, binding, || {
            json!({
                "cluster": {"uuid": id.uuid, "name": id.name},
                "tool": "snapshot_delete",
                "snapshot": {"uuid": snap_id, "label": s(&snap, "label"), "type": s(&snap, "type"), "timestamp": n(&snap, "timestamp")},
                "vm": vm.as_ref().map(vm_brief).unwrap_or_else(|| json!({"uuid": vm_uuid})),
                "effect": "will permanently delete this snapshot; it cannot be restored afterwards",
            })
        })? {
            return Ok(resp);
        }
        let submit = self.cluster.client().delete_snapshot(snap_id);
        self.run_task(
            a,
            progress,
            submit,
            |e| e,
            |out, _| {
                out["snapshot"] = json!({"uuid": snap_id, "label": s(&snap, "label")});
                if let Some(vm) = &vm {
                    out["vm"] = vm_brief(vm);
                }
            },
        )
        .await
    }

    pub(super) async fn snapshot_of(
        &self,
        vm: &Value,
        snap: Option<&str>,
    ) -> Result<Option<String>, String> {
        let Some(snap) = snap.map(str::trim).filter(|x| !x.is_empty()) else {
            return Ok(None);
        };
        if !is_uuid(snap) {
            return Err(format!(
                "'{snap}' is not a valid snapshot uuid (see snapshot_list)"
            ));
        }
        match self
            .cluster
            .get_one("VirDomainSnapshot", snap)
            .await
            .map_err(|e| self.cluster_err(e))?
        {
            None => Err(format!(
                "no snapshot with uuid {snap} on this cluster (see snapshot_list)"
            )),
            Some(x) if s(&x, "domainUUID") != s(vm, "uuid") => Err(format!(
                "snapshot {snap} belongs to another VM ({}), not to '{}'",
                s(&x, "domainUUID"),
                s(vm, "name")
            )),
            Some(_) => Ok(Some(snap.to_owned())),
        }
    }

    pub(super) async fn vm_clone(
        &self,
        a: &Map<String, Value>,
        progress: &ProgressSink,
    ) -> ToolResult {
        let vm = self
            .resolve_vm_fresh(str_arg(a, "vm").unwrap_or_default())
            .await?;
        let name = str_arg(a, "name").unwrap_or_default().trim().to_owned();
        let mut snap = self.snapshot_of(&vm, str_arg(a, "snapshot")).await?;
        if snap.is_none() && !s(&vm, "sourceVirDomainUUID").is_empty() {
            // A replication target is cloned from its latest replicated snapshot.
            snap = vm
                .get("snapUUIDs")
                .and_then(Value::as_array)
                .and_then(|x| x.last())
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        let spec = CloneSpec {
            name: name.clone(),
            snap_uuid: snap,
            ..CloneSpec::default()
        };
        let vm_uuid = s(&vm, "uuid");
        let submit = self.cluster.client().clone_vm(&vm_uuid, spec);
        self.run_task(
            a,
            progress,
            submit,
            |e| e,
            |out, task| {
                out["created_uuid"] = json!(task.created_uuid);
                out["clone"] = json!({"uuid": task.created_uuid, "name": name});
                out["vm"] = vm_brief(&vm);
            },
        )
        .await
    }

    pub(super) async fn vm_export(
        &self,
        a: &Map<String, Value>,
        progress: &ProgressSink,
    ) -> ToolResult {
        let vm = self
            .resolve_vm_fresh(str_arg(a, "vm").unwrap_or_default())
            .await?;
        let uri = str_arg(a, "uri").unwrap_or_default().trim().to_owned();
        let shown = redact_uri(&uri);
        if !uri.to_ascii_lowercase().starts_with("smb://") {
            return Err(format!(
                "uri '{shown}' must be an smb:// URI, e.g. smb://DOMAIN;user:password@server/share/folder"
            ));
        }
        let after = &uri["smb://".len()..];
        let host_path = after.rsplit_once('@').map_or(after, |(_, hp)| hp);
        if !host_path.contains('/') || host_path.starts_with('/') {
            return Err(format!(
                "uri '{shown}' needs a server and a share path, e.g. smb://user:pass@server/share/folder"
            ));
        }
        let snap = self.snapshot_of(&vm, str_arg(a, "snapshot")).await?;
        let spec = ExportSpec {
            target_uri: hyperfed_protocol::Secret::new(uri.clone()),
            snap_uuid: snap,
            ..ExportSpec::default()
        };
        let vm_uuid = s(&vm, "uuid");
        let submit = self.cluster.client().export_vm(&vm_uuid, spec);
        // The URI may hold SMB credentials: it never appears in an error, only redacted.
        let scrub = |e: String| redact_words(&e).replace(&uri, &shown);
        self.run_task(a, progress, submit, scrub, |out, _| {
            out["uri"] = json!(shown);
            out["vm"] = vm_brief(&vm);
        })
        .await
    }
}
