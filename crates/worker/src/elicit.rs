//! Confirmation by asking the person. A destructive call's preview (the token flow of
//! [`crate::confirm`]) becomes a yes/no question when the client can show one: an
//! `elicitation/create` request inside the call for 2025-06-18..2025-11-25 sessions, or an
//! `input_required` result for 2026-07-28 clients (SEP-2322: the question rides in the
//! result, the confirmation token rides as `requestState`, the client retries with the
//! answer). Yes redeems the token; no, decline or cancel changes nothing. Clients that
//! declared no elicitation capability get the token flow, byte for byte as before.

use std::collections::BTreeMap;
use std::time::Duration;

use hyperfed_protocol::{Answer, ConfirmPreview, confirm_question};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ElicitRequest, ElicitRequestParams,
    ElicitationAction, ElicitationSchema, InputRequest, InputRequiredResult,
};
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
        let form = ctx
            .client_capabilities()
            .and_then(|c| c.elicitation)
            .is_some_and(|e| {
                // A capability naming neither mode means form (2025-06-18 clients).
                e.form.is_some() || e.url.is_none()
            });
        if !form {
            return ConfirmChannel::Token;
        }
        match ctx.protocol_version() {
            Some(v) if !v.has_initialize() => ConfirmChannel::InputRequired,
            _ => ConfirmChannel::Ask(ctx.peer.clone()),
        }
    }
}

/// The `elicitation/create` parameters for a preview, the cluster named as `cluster`.
pub fn elicit_params(preview: &ConfirmPreview, cluster: &str) -> Option<ElicitRequestParams> {
    let Value::Object(schema) = preview.form_schema() else {
        return None;
    };
    let schema = ElicitationSchema::from_json_schema(schema).ok()?;
    Some(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: preview.question(cluster),
        requested_schema: schema,
    })
}

/// The 2026-07-28 `input_required` result asking about `preview`; the token is the state.
pub fn input_required(preview: &ConfirmPreview, cluster: &str) -> Option<InputRequiredResult> {
    let params = elicit_params(preview, cluster)?;
    let mut requests = BTreeMap::new();
    requests.insert(
        confirm_question::INPUT_KEY.to_owned(),
        InputRequest::Elicitation(ElicitRequest::new(params)),
    );
    Some(InputRequiredResult::new(
        Some(requests),
        Some(preview.token.clone()),
    ))
}

/// The person's answer in a 2026-07-28 retry, with the token it carries as `requestState`.
pub fn answered(request: &CallToolRequestParams) -> Option<(Answer, String)> {
    let token = request.request_state.clone()?;
    let response = request
        .input_responses
        .as_ref()
        .and_then(|r| r.get(confirm_question::INPUT_KEY));
    Some((Answer::from_response(response), token))
}

/// Asks the person over the session; `None` when the client did not answer (the caller
/// falls back to the token flow, so nothing is lost).
pub async fn ask(
    peer: &Peer<RoleServer>,
    preview: &ConfirmPreview,
    cluster: &str,
    timeout: Duration,
) -> Option<Answer> {
    let params = elicit_params(preview, cluster)?;
    match peer
        .create_elicitation_with_timeout(params, Some(timeout))
        .await
    {
        Ok(result) => Some(match result.action {
            ElicitationAction::Accept => Answer::from_elicit("accept", result.content.as_ref()),
            ElicitationAction::Decline => Answer::Declined,
            _ => Answer::Cancelled,
        }),
        Err(e) => {
            tracing::info!(error = %e, "the client did not answer the confirmation question; answering with the token preview");
            None
        }
    }
}

/// The JSON of a tool result (structured content).
fn result_json(result: &CallToolResult) -> Option<&Value> {
    result.structured_content.as_ref()
}

/// A tool result as a confirmation preview, if it is one.
pub fn preview_of(result: &CallToolResult) -> Option<ConfirmPreview> {
    result_json(result).and_then(ConfirmPreview::from_result)
}

/// Runs a call of `tool` on `cluster` (as the question names it) through the confirmation
/// channel: `run` executes the tool with the given arguments (once for the preview, and again
/// with the token after a yes; a call that needs no confirmation runs once).
pub(crate) async fn run_confirmed<F, Fut>(
    tool: &str,
    cluster: &str,
    channel: ConfirmChannel,
    answered: Option<(Answer, String)>,
    mut args: Map<String, Value>,
    timeout: Duration,
    cancelled: Option<tokio_util::sync::CancellationToken>,
    run: F,
) -> CallToolResponse
where
    F: Fn(Map<String, Value>) -> Fut,
    Fut: std::future::Future<Output = CallToolResult>,
{
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
        ConfirmChannel::InputRequired => match input_required(&preview, cluster) {
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
