//! One log line per request at `info`: method, matched route, status, latency, request id and,
//! once authenticated, the user id. Never the query string, headers (tokens), or bodies.
//!
//! Native only: tower-http's trace layer times requests with `std::time::Instant`, which a
//! Worker lacks; Cloudflare logs the Worker's requests itself.

use axum::Router;
use axum::extract::MatchedPath;
use tower_http::LatencyUnit;
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::{Level, Span};

/// The span of one request, whose fields every line logged while serving it carries. The
/// request id and the user are recorded into it by the router (`request_id`, `user_id`).
#[derive(Debug, Clone, Copy)]
struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> Span {
        // The route pattern (`/api/v1/chats/{id}`), never the path: ids stay out of the logs'
        // cardinality, and the query string (which may carry anything) out of the logs.
        let route = req.extensions().get::<MatchedPath>().map_or("-", MatchedPath::as_str);
        tracing::info_span!(
            "request",
            method = %req.method(),
            route,
            request_id = tracing::field::Empty,
            user_id = tracing::field::Empty,
        )
    }
}

/// `app` with one log line per request.
pub fn with_request_log(app: Router) -> Router {
    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(RequestSpan)
            .on_request(())
            .on_response(
                DefaultOnResponse::new()
                    .level(Level::INFO)
                    .latency_unit(LatencyUnit::Micros),
            )
            .on_body_chunk(())
            .on_eos(())
            // A 5xx is logged with its cause where it happens; the response line has its status.
            .on_failure(()),
    )
}
