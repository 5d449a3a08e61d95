//! Confirmation by asking the person. A destructive call's preview (the token flow of
//! [`crate::confirm`]) becomes a yes/no question when the client can show one: an
//! `elicitation/create` request inside the call for 2025-06-18..2025-11-25 sessions, or an
//! `input_required` result for 2026-07-28 clients (SEP-2322: the question rides in the
//! result, the confirmation token rides as `requestState`, the client retries with the
//! answer). Yes redeems the token; no, decline or cancel changes nothing. Clients that
//! declared no elicitation capability get the token flow, byte for byte as before.

use std::time::Duration;

use hyperfed_protocol::confirm_mcp::{self, AskWay};
use hyperfed_protocol::{Answer, ConfirmPreview, confirm_question};
use rmcp::model::{CallToolResponse, CallToolResult};
use rmcp::service::{Peer, RequestContext, RoleServer};
use serde_json::{Map, Value};

/// How a call can reach the person for a confirmation.
#[derive(Clone)]
pub enum ConfirmChannel {
    /// The client cannot be asked: preview and `confirm_token`, as always.
    Token,
    /// A session client that declared form elicitation: ask it within the call.
    Ask(Peer<RoleServer>),
    /// A 2026-07-28 client that declared elicitation: answer `input_required`.
    InputRequired,
}

impl ConfirmChannel {
    /// The channel for one request, from the client's declared capabilities and protocol.
    pub fn of(ctx: &RequestContext<RoleServer>) -> Self {
        match AskWay::of(ctx) {
            AskWay::Token => ConfirmChannel::Token,
            AskWay::Elicit => ConfirmChannel::Ask(ctx.peer.clone()),
            AskWay::InputRequired => ConfirmChannel::InputRequired,
        }
    }
}

/// Asks the person over the session; `None` when the client did not answer (the caller
/// falls back to the token flow, so nothing is lost).
pub async fn ask(
    peer: &Peer<RoleServer>,
    preview: &ConfirmPreview,
    cluster: &str,
    timeout: Duration,
) -> Option<Answer> {
    let params = confirm_mcp::elicit_params(preview, cluster)?;
    match peer
        .create_elicitation_with_timeout(params, Some(timeout))
        .await
    {
        Ok(result) => Some(confirm_mcp::answer_of(&result)),
        Err(e) => {
            tracing::info!(error = %e, "the client did not answer the confirmation question; answering with the token preview");
            None
        }
    }
}

/// A tool result as a confirmation preview, if it is one.
pub fn preview_of(result: &CallToolResult) -> Option<ConfirmPreview> {
    result
        .structured_content
        .as_ref()
        .and_then(ConfirmPreview::from_result)
}

/// Who is asked about what, for one call.
pub(crate) struct Asking<'a> {
    /// The tool called.
    pub tool: &'a str,
    /// The cluster as the question names it.
    pub cluster: &'a str,
    /// How the client can be asked.
    pub channel: ConfirmChannel,
    /// How long the person may take to answer.
    pub timeout: Duration,
    /// The call's cancellation (stops waiting for an answer).
    pub cancelled: Option<tokio_util::sync::CancellationToken>,
}

/// Runs a call through its confirmation channel (see [`Asking`]): `run` executes the tool with the given arguments (once for the preview, and again
/// with the token after a yes; a call that needs no confirmation runs once).
pub(crate) async fn run_confirmed<F, Fut>(
    asked: Asking<'_>,
    answered: Option<(Answer, String)>,
    mut args: Map<String, Value>,
    run: F,
) -> CallToolResponse
where
    F: Fn(Map<String, Value>) -> Fut,
    Fut: std::future::Future<Output = CallToolResult>,
{
    let Asking {
        tool,
        cluster,
        channel,
        timeout,
        cancelled,
    } = asked;
    if let (ConfirmChannel::InputRequired, Some((answer, token))) = (&channel, answered) {
        if answer == Answer::Yes {
            args.insert("confirm_token".into(), Value::String(token));
            return run(args).await.into();
        }
        // Nothing runs: the token is left to expire unused.
        return CallToolResult::structured(confirm_question::declined_result(
            tool, cluster, answer, None,
        ))
        .into();
    }
    let first = run(args.clone()).await;
    let Some(preview) = preview_of(&first) else {
        return first.into();
    };
    match channel {
        ConfirmChannel::Token => first.into(),
        ConfirmChannel::InputRequired => match confirm_mcp::input_required(&preview, cluster) {
            Some(r) => r.into(),
            None => first.into(),
        },
        ConfirmChannel::Ask(peer) => {
            let asked = ask(&peer, &preview, cluster, timeout);
            let answer = match cancelled {
                Some(ct) => tokio::select! {
                    a = asked => a,
                    _ = ct.cancelled() => None,
                },
                None => asked.await,
            };
            match answer {
                None => first.into(),
                Some(Answer::Yes) => {
                    args.insert("confirm_token".into(), Value::String(preview.token));
                    run(args).await.into()
                }
                Some(no) => CallToolResult::structured(confirm_question::declined_result(
                    preview.tool(),
                    cluster,
                    no,
                    Some(&preview.preview),
                ))
                .into(),
            }
        }
    }
}
