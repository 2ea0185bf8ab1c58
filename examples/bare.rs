//! Benchmark baseline: a bare axum server that reads the body of `POST /system/alert` and answers
//! 200 with a small JSON body, without doing anything. `scripts/bench.sh` compares alertscaler
//! with it. Usage: `bare 127.0.0.1:PORT`.

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".into());
    let app = Router::new().route(
        "/system/alert",
        post(|body: Bytes| async move {
            (
                [("content-type", "application/json")],
                format!(
                    "{{\"functions\":[],\"skipped\":[],\"bytes\":{}}}",
                    body.len()
                ),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
