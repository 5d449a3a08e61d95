//! One tool call as a handler sees it: the shared state, the tool's served declaration, the
//! arguments and the progress reporter; argument readers; and the confirmation gate, which
//! applies exactly to the tools declared destructive.

use serde_json::{Map, Value, json};

use crate::catalog::ToolDef;
use crate::confirm::Binding;
use crate::progress::ProgressReporter;
use crate::state::WorkerState;

/// One running tool call.
#[derive(Clone, Copy)]
pub(crate) struct ToolCall<'a> {
    /// The worker.
    pub state: &'a WorkerState,
    /// The tool's served declaration.
    pub def: &'a ToolDef,
    /// The (validated) arguments.
    pub args: &'a Map<String, Value>,
    /// Where progress goes, and the caller's cancellation.
    pub progress: &'a ProgressReporter,
}

impl<'a> ToolCall<'a> {
    /// A string argument.
    pub fn str_arg(&self, key: &str) -> Option<&'a str> {
        self.args.get(key).and_then(Value::as_str)
    }

    /// A boolean argument, `default` when absent.
    pub fn bool_arg(&self, key: &str, default: bool) -> bool {
        self.args
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(default)
    }

    /// A non-negative integer argument, `default` when absent.
    pub fn count_arg(&self, key: &str, default: u64) -> usize {
        self.args
            .get(key)
            .and_then(Value::as_u64)
            .unwrap_or(default) as usize
    }

    /// Whether the caller wants the action's task waited for (default true).
    pub fn wants_wait(&self) -> bool {
        self.bool_arg("wait", true)
    }

    /// The confirmation gate. For a tool declared destructive: without `confirm_token`, issues
    /// a token bound to this cluster, tool, `target` and arguments and answers the preview (the
    /// cluster, the tool and the fields `preview` gives), changing nothing; with a token,
    /// redeems it or refuses. Other tools pass.
    pub fn confirm(
        &self,
        target: &str,
        preview: impl FnOnce() -> Value,
    ) -> Result<Option<Value>, String> {
        self.confirm_when(self.def.destructive, target, preview)
    }

    /// The confirmation gate for a call that is destructive only with some arguments (e.g.
    /// `vm_shutdown` with `force_after_s`): applied when `needed`, passed otherwise.
    pub fn confirm_when(
        &self,
        needed: bool,
        target: &str,
        preview: impl FnOnce() -> Value,
    ) -> Result<Option<Value>, String> {
        if !needed {
            return Ok(None);
        }
        let id = self.state.identity();
        let binding = Binding::new(&id.uuid, self.def.name, target, self.args);
        let confirmations = &self.state.confirmations;
        if let Some(token) = self.str_arg("confirm_token") {
            confirmations
                .redeem(token, &binding)
                .map_err(|e| e.to_string())?;
            return Ok(None);
        }
        let token = confirmations.issue(binding);
        let mut shown = preview();
        shown["cluster"] = json!({"uuid": id.uuid, "name": id.name});
        shown["tool"] = json!(self.def.name);
        Ok(Some(json!({
            "confirmation_required": true,
            "confirm_token": token,
            "expires_in_s": confirmations.ttl().as_secs(),
            "preview": shown,
            "message": "Nothing was changed. This action is destructive: repeat the same call with confirm_token to execute it.",
        })))
    }

    /// A HyperCore failure as a message that names the cluster.
    pub fn cluster_err(&self, e: hypercore::Error) -> String {
        self.state.cluster_err(e)
    }
}
