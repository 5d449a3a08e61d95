//! The read-only fleet page at `/ui`: an HTML shell and its script and style, compiled into the
//! binary and served without a token (they hold no data) under strict security headers. The
//! page asks for a token and reads everything through the REST API (`/v1/clusters`,
//! `/v1/status`, `/v1/vms`, `/v1/audit`) with it, so the API's authentication and scopes apply.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page's Content-Security-Policy: own script, style and fetches only, nothing inline,
/// never framed, no `<base>`, forms post only here.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const SHELL: &str = include_str!("../assets/ui/index.html");
const SCRIPT: &str = include_str!("../assets/ui/app.js");
const STYLE: &str = include_str!("../assets/ui/app.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn shell() -> Response {
    asset("text/html; charset=utf-8", SHELL)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found: the fleet page is /ui",
    )
        .into_response()
}

/// Adds the page's security headers to every `/ui` answer (404s included).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The assets are small and change with the binary: always revalidate.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The `/ui` routes (no token: the shell and assets carry no fleet data).
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(shell))
        .route("/ui/", get(shell))
        .route("/ui/app.js", get(script))
        .route("/ui/app.css", get(style))
        .route("/ui/{*rest}", get(not_found))
        .layer(axum::middleware::from_fn(security_headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_has_no_inline_script_or_style() {
        // The CSP forbids them; the shell must not need them.
        assert!(!SHELL.contains("<style"));
        assert!(!SHELL.contains(" style="));
        // No inline event handler attribute (` onclick=` and the like).
        let handler = SHELL.match_indices(" on").any(|(i, _)| {
            let rest = &SHELL[i + 3..];
            let name = rest.len()
                - rest
                    .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                    .len();
            name > 0 && rest[name..].starts_with('=')
        });
        assert!(!handler, "no inline event handlers");
        assert!(!SHELL.contains("javascript:"));
        for tag in SHELL.match_indices("<script").map(|(i, _)| &SHELL[i..]) {
            let end = tag.find('>').unwrap_or(tag.len());
            assert!(tag[..end].contains("src=\"/ui/app.js\""), "{}", &tag[..end]);
        }
        // The script renders data as text only.
        assert!(!SCRIPT.contains("innerHTML"));
        assert!(!SCRIPT.contains("insertAdjacentHTML"));
        assert!(!SCRIPT.contains("document.write"));
        assert!(!SCRIPT.contains("eval("));
    }
}
