//! The HTTP side of metrics: `/metrics` (Prometheus text), `/status` (JSON for `sluice status`, see
//! [`crate::status`]), `/health` (the process is up) and `/ready` (the pipeline is streaming). One small hyper server; every connection is its own task.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Metrics;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot serve metrics on `{address}` (config key `metrics.address`): {source}; choose a free address or set \
     `metrics.enabled = false`"
)]
pub struct EndpointError {
    address: SocketAddr,
    source: std::io::Error,
}

/// A bound endpoint, not yet serving.
pub struct Endpoint {
    listener: TcpListener,
}

impl Endpoint {
    pub async fn bind(address: SocketAddr) -> Result<Self, EndpointError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| EndpointError { address, source })?;
        Ok(Self { listener })
    }

    /// The address actually bound (port 0 picks a free one).
    pub fn local_address(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until the returned task is aborted.
    pub async fn serve(self, metrics: Arc<Metrics>) {
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!("metrics endpoint: cannot accept a connection: {error}");
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = respond(&metrics, &request);
                    async move { Ok::<_, Infallible>(response) }
                });
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("metrics endpoint: connection ended: {error}");
                }
            });
        }
    }
}

fn respond<B>(metrics: &Metrics, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(metrics.render())));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            );
            response
        }
        "/status" => {
            let body = serde_json::to_string(&metrics.status_report()).expect("a status report serialises");
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            response
        }
        "/health" => text(StatusCode::OK, "ok\n"),
        "/ready" if metrics.is_ready() => text(StatusCode::OK, "ready\n"),
        "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /status, /health or /ready\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}
