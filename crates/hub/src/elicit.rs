//! Confirmation by asking the person, through the hub. When a forwarded destructive call
//! answers a preview and its client can be asked, the hub asks the question itself (naming
//! the cluster by its alias) and, on yes, forwards the call again with the preview's token.
//!
//! Why the hub asks instead of relaying the worker's own `elicitation/create`: a relay would
//! need the hub's one multiplexed rmcp session per worker to map each worker request back to
//! the client call in flight (progress can do that through its token; an elicitation request
//! carries no such key), and it could not work at all over the stateless and NATS links,
//! which have no server-to-client channel. Asking at the hub works over every link, keeps the
//! worker's token as the single proof of what was previewed (a yes can only execute exactly
//! that action), and puts the answer next to the audit record it belongs to. The hub's
//! sessions to workers declare no elicitation, so workers always answer it with a preview.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyperfed_protocol::confirm_mcp::{self, AskWay};
use hyperfed_protocol::{Answer, ConfirmPreview, confirm_question};
use rmcp::model::{CallToolRequestParams, CallToolResult, InputRequiredResult};
use rmcp::service::{Peer, RequestContext, RoleServer};
use tokio_util::sync::CancellationToken;

/// How long the person may take to answer (the worker's token lifetime bounds it too).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// How a call can reach its person for a confirmation.
#[derive(Clone, Default)]
pub(crate) enum ConfirmChannel {
    /// The client cannot be asked (or REST): preview and `confirm_token`, as always.
    #[default]
    Token,
    /// A session client that declared form elicitation: the hub asks within the call.
    Ask(Peer<RoleServer>),
    /// A 2026-07-28 client that declared elicitation: the call's preview becomes an
    /// `input_required` result, left here for the MCP handler to answer.
    InputRequired(Arc<OnceLock<InputRequiredResult>>),
    /// A 2026-07-28 retry carrying the person's answer and the preview's token.
    Answered(Answer, String),
}

impl ConfirmChannel {
    /// The channel of one MCP request.
    pub(crate) fn of(ctx: &RequestContext<RoleServer>, request: &CallToolRequestParams) -> Self {
        match AskWay::of(ctx) {
            AskWay::Token => ConfirmChannel::Token,
            AskWay::Elicit => ConfirmChannel::Ask(ctx.peer.clone()),
            AskWay::InputRequired => match confirm_mcp::answered(request) {
                Some((answer, token)) => ConfirmChannel::Answered(answer, token),
                None => ConfirmChannel::InputRequired(Arc::default()),
            },
        }
    }

    /// The `input_required` result a call left, if it left one.
    pub(crate) fn input_required(&self) -> Option<InputRequiredResult> {
        match self {
            ConfirmChannel::InputRequired(slot) => slot.get().cloned(),
            _ => None,
        }
    }
}

/// The cluster as the hub's question names it: its alias first.
fn cluster_label(alias: &str, preview: Option<&ConfirmPreview>) -> String {
    match preview {
        Some(p) => format!("'{alias}' (HyperCore {})", p.worker_cluster()),
        None => format!("'{alias}'"),
    }
}

/// What the person's answer (or its absence) means for a forwarded call.
pub(crate) enum Settled {
    /// Answer the worker's result as it is (no preview, nobody to ask, or no answer).
    Keep,
    /// Yes: forward again with this token.
    Go(String),
    /// No, declined or cancelled: nothing is forwarded; this is the call's result.
    Declined(CallToolResult),
}

/// Before forwarding: a 2026-07-28 retry's answer. `Go` adds the token; `Declined` stops.
pub(crate) fn before_forward(channel: &ConfirmChannel, alias: &str, tool: &str) -> Settled {
    match channel {
        ConfirmChannel::Answered(Answer::Yes, token) => Settled::Go(token.clone()),
        ConfirmChannel::Answered(answer, _) => Settled::Declined(CallToolResult::structured(
            confirm_question::declined_result(tool, &cluster_label(alias, None), *answer, None),
        )),
        _ => Settled::Keep,
    }
}

/// After forwarding: when the worker answered a preview, asks the person (or leaves the
/// `input_required` result for a 2026-07-28 client).
pub(crate) async fn after_forward(
    channel: &ConfirmChannel,
    alias: &str,
    result: &CallToolResult,
    cancel: &CancellationToken,
) -> Settled {
    let preview = result
        .structured_content
        .as_ref()
        .and_then(ConfirmPreview::from_result);
    let Some(preview) = preview else {
        return Settled::Keep;
    };
    let cluster = cluster_label(alias, Some(&preview));
    match channel {
        ConfirmChannel::Token | ConfirmChannel::Answered(..) => Settled::Keep,
        ConfirmChannel::InputRequired(slot) => {
            if let Some(r) = confirm_mcp::input_required(&preview, &cluster) {
                let _ = slot.set(r);
            }
            Settled::Keep
        }
        ConfirmChannel::Ask(peer) => {
            let Some(params) = confirm_mcp::elicit_params(&preview, &cluster) else {
                return Settled::Keep;
            };
            let asked = peer.create_elicitation_with_timeout(params, Some(ANSWER_TIMEOUT));
            let answer = tokio::select! {
                r = asked => match r {
                    Ok(r) => confirm_mcp::answer_of(&r),
                    Err(e) => {
                        tracing::info!(cluster = alias, error = %e, "the client did not answer the confirmation question; answering with the token preview");
                        return Settled::Keep;
                    }
                },
                _ = cancel.cancelled() => return Settled::Keep,
            };
            if answer == Answer::Yes {
                return Settled::Go(preview.token.clone());
            }
            Settled::Declined(CallToolResult::structured(
                confirm_question::declined_result(
                    preview.tool(),
                    &cluster,
                    answer,
                    Some(&preview.preview),
                ),
            ))
        }
    }
}
