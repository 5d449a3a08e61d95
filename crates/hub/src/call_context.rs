//! Who is calling and how to reach them: the audit subject, the token's scope, where the
//! client wants progress, the cancellation of its request and how it can be asked to confirm.

use rmcp::service::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

use crate::auth::Scope;
use crate::elicit::ConfirmChannel;
use crate::progress::ProgressTarget;

/// Who is calling and how to reach them for progress and cancellation.
#[derive(Clone)]
pub(crate) struct CallContext {
    /// Audit subject, e.g. `bearer-token via mcp`.
    pub subject: String,
    /// The client's progress token and session, when it asked for progress.
    pub progress: Option<ProgressTarget>,
    /// Cancelled when the client cancels the request.
    pub cancel: CancellationToken,
    /// What the caller's token allows.
    pub scope: Scope,
    /// The client's MCP session (for sampling), when the call came over MCP.
    pub peer: Option<Peer<RoleServer>>,
    /// The hub operation a forwarded call belongs to (its audit records carry it).
    pub operation: Option<String>,
    /// How a destructive call can ask the person to confirm.
    pub confirm: ConfirmChannel,
}

impl CallContext {
    /// A context for calls without progress or cancellation (REST).
    pub(crate) fn plain(subject: String, scope: Scope) -> Self {
        CallContext {
            subject,
            progress: None,
            cancel: CancellationToken::new(),
            scope,
            peer: None,
            operation: None,
            confirm: ConfirmChannel::Token,
        }
    }
}
