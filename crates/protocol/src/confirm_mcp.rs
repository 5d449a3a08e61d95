//! The confirmation question as MCP messages (feature `mcp`): which way a request's client
//! can be asked, the `elicitation/create` form, the 2026-07-28 `input_required` result that
//! carries it (the confirmation token rides as `requestState`) and the answer read back.
//! No I/O: the worker and the hub send the question themselves.

use std::collections::BTreeMap;

use rmcp::model::{
    CallToolRequestParams, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationSchema, InputRequest, InputRequiredResult,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::Value;

use crate::confirm_question::{Answer, ConfirmPreview, INPUT_KEY};

/// How the client of one request can be asked to confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskWay {
    /// It cannot: preview and `confirm_token`, as always.
    Token,
    /// A session client that declared form elicitation: `elicitation/create` within the call.
    Elicit,
    /// A 2026-07-28 client that declared elicitation: an `input_required` result.
    InputRequired,
}

impl AskWay {
    /// The way for one request, from the client's declared capabilities and its protocol.
    pub fn of(ctx: &RequestContext<RoleServer>) -> Self {
        let form = ctx
            .client_capabilities()
            .and_then(|c| c.elicitation)
            // A capability naming neither mode means form (2025-06-18 clients).
            .is_some_and(|e| e.form.is_some() || e.url.is_none());
        if !form {
            return AskWay::Token;
        }
        match ctx.protocol_version() {
            Some(v) if !v.has_initialize() => AskWay::InputRequired,
            _ => AskWay::Elicit,
        }
    }
}

/// The `elicitation/create` parameters asking about `preview`, the cluster named as `cluster`.
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

/// The `input_required` result asking about `preview`; the confirmation token is its state
/// (kept server-side, so the echoed state is only a handle the worker checks).
pub fn input_required(preview: &ConfirmPreview, cluster: &str) -> Option<InputRequiredResult> {
    let params = elicit_params(preview, cluster)?;
    let mut requests = BTreeMap::new();
    requests.insert(
        INPUT_KEY.to_owned(),
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
        .and_then(|r| r.get(INPUT_KEY));
    Some((Answer::from_response(response), token))
}

/// The answer in an `elicitation/create` result.
pub fn answer_of(result: &ElicitResult) -> Answer {
    match result.action {
        ElicitationAction::Accept => Answer::from_elicit("accept", result.content.as_ref()),
        ElicitationAction::Decline => Answer::Declined,
        _ => Answer::Cancelled,
    }
}
