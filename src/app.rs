//! The wiring `g6 serve`, `g6 replay --serve` and `g6 ingest` share: one async
//! runtime, one stop signal, the live view fed from the in-process bus, and the HTTP
//! server bound before anything is written and stopped with the rest. The app owns its
//! router (axum): the runtime's `/metrics` service, `/healthz`, the status page with the
//! app's lines, and the live view's routes.

use crate::shutdown::Stop;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Builds an [`App`].
#[derive(Debug, Clone)]
pub struct AppBuilder {
    command: &'static str,
    worker_threads: usize,
}

impl AppBuilder {
    /// Worker threads of the runtime (default 2: the HTTP server, the bus and the live
    /// view are light; blocking work has threads of its own).
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = n.max(1);
        self
    }

    /// Start the runtime.
    pub fn build(self) -> std::io::Result<App> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .enable_all()
            .build()?;
        Ok(App {
            command: self.command,
            runtime,
            stop: Stop::new(),
            hub: None,
            live_routes: None,
            status: crate::exporter::StatusPage::new(),
            tasks: tokio_util::task::TaskTracker::new(),
            web: None,
        })
    }
}

/// One process's runtime, stop signal, live view and HTTP server.
pub struct App {
    command: &'static str,
    runtime: tokio::runtime::Runtime,
    stop: Stop,
    hub: Option<Arc<crate::live::Hub>>,
    live_routes: Option<axum::Router>,
    status: crate::exporter::StatusPage,
    /// The app's async tasks (HTTP server, live feeder), waited for at [`App::finish`].
    tasks: tokio_util::task::TaskTracker,
    web: Option<crate::web_config::WebConfig>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("command", &self.command)
            .field("live", &self.hub.is_some())
            .finish_non_exhaustive()
    }
}

/// Bind `addr` for a command's HTTP server, non-blocking, before anything else runs:
/// a start that fails (the port taken) leaves nothing behind. The error says what to
/// do.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, String> {
    std::net::TcpListener::bind(addr)
        .and_then(|l| {
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .map_err(|e| {
            format!(
                "cannot listen on {addr}: {e}; is another g6 running there? choose another address with --listen"
            )
        })
}

impl App {
    /// A builder for the command `command` (`serve`, `replay`, `ingest`: named in the
    /// address line).
    pub fn builder(command: &'static str) -> AppBuilder {
        AppBuilder {
            command,
            worker_threads: 2,
        }
    }

    /// The runtime.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// The stop signal every part of this app waits on.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    /// Serve the live near-ATM view (`/live`, `/live/atm`), fed by `bus`: at most
    /// `max_clients` streams, a heartbeat after `heartbeat` of quiet. Ends with the
    /// app's stop.
    pub fn with_live(
        &mut self,
        bus: &crate::bus::inproc::InProcessBus,
        max_clients: usize,
        heartbeat: Duration,
        link: &str,
    ) -> Arc<crate::live::Hub> {
        let hub = crate::live::Hub::new();
        self.tasks.spawn_on(
            crate::live::feed(
                hub.clone(),
                bus.subscribe(crate::live::hub::SUBSCRIBER),
                self.stop.clone(),
            ),
            self.runtime.handle(),
        );
        self.live_routes = Some(crate::live::sse::router(
            hub.clone(),
            max_clients,
            heartbeat,
        ));
        self.status.link("/live", link);
        self.hub = Some(hub.clone());
        hub
    }

    /// Serve HTTP with `web`'s TLS and basic authentication (`--web-config`).
    pub fn with_web_config(&mut self, web: crate::web_config::WebConfig) {
        self.status
            .line(format!("HTTP server: {} (--web-config)", web.summary));
        self.web = Some(web);
    }

    /// Add a line to the top of the status page (where the data comes from, what is
    /// kept).
    pub fn status_line(&mut self, line: impl Into<String>) {
        self.status.line(line);
    }

    /// Add a line to the top of the status page worked out each time it is shown.
    pub fn status_live_line(&mut self, line: impl Fn() -> String + Send + Sync + 'static) {
        self.status.live_line(line);
    }

    /// The app's routes: the runtime's `/metrics` service, `/healthz`, the status page
    /// at `/`, and the live view's when it has one; anything else is 404.
    pub fn router(&self) -> axum::Router {
        use crate::exporter;
        let status = Arc::new(self.status.clone());
        let mut router = axum::Router::new()
            .route_service("/metrics", exporter::MetricsService)
            .route(
                "/healthz",
                axum::routing::get(|| async { exporter::healthz() }),
            )
            .route(
                "/",
                axum::routing::get(move || async move { status.html_response() }),
            )
            .fallback(|| async { exporter::not_found() });
        if let Some(live) = &self.live_routes {
            router = router.merge(live.clone());
        }
        router
    }

    /// Serve HTTP on `listener` until `until` resolves or the app stops; then the live
    /// streams end and the server shuts down gracefully. Prints the address line
    /// scripts and tests read (`g6 <command>: listening on http://ADDR`). Runs on the
    /// app's runtime; the handle resolves when the server is down.
    pub fn spawn_http(
        &mut self,
        listener: std::net::TcpListener,
        limits: crate::exporter::Limits,
        until: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<tokio::task::JoinHandle<std::io::Result<()>>, String> {
        let listener = {
            let _in_runtime = self.runtime.enter();
            tokio::net::TcpListener::from_std(listener)
                .map_err(|e| format!("cannot listen: {e}"))?
        };
        let local = listener
            .local_addr()
            .map_err(|e| format!("the listening socket has no address: {e}"))?;
        // Tests and scripts read this line to find the port when listening on :0.
        let scheme = match self.web.as_ref().and_then(|w| w.tls.as_ref()) {
            Some(_) => "https",
            None => "http",
        };
        println!(
            "g6 {}: listening on {scheme}://{local} (spec hash {})",
            self.command,
            crate::SPEC_HASH
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        tracing::info!(%local, spec_hash = crate::SPEC_HASH, "exporter started");
        let stop = self.stop.clone();
        let hub = self.hub.clone();
        // Live streams never end by themselves: the hub ends them when shutdown
        // starts, so the server's graceful shutdown does not wait on them.
        let stopping = async move {
            tokio::select! {
                () = until => {}
                () = stop.stopped() => {}
            }
            stop.stop();
            if let Some(hub) = hub {
                hub.close();
            }
        };
        let router = self.router();
        let mut server = crate::exporter::Server::new(listener).limits(limits);
        if let Some(web) = &mut self.web {
            if let Some(tls) = &web.tls {
                server = server.tls(Arc::clone(tls));
            }
            if let Some(auth) = web.auth.take() {
                server = server.basic_auth(auth);
            }
        }
        Ok(self
            .tasks
            .spawn_on(server.serve(router, stopping), self.runtime.handle()))
    }

    /// Stop the app and wait, at most `grace`, for its async tasks to end (the HTTP
    /// server's graceful shutdown, the live feeder); then the runtime goes, cancelling
    /// whatever is left. Threads the command started are joined by the command, in its
    /// own order (collector before bus before store).
    pub fn finish(self, grace: Duration) {
        self.stop.stop();
        self.tasks.close();
        let tasks = self.tasks.clone();
        let ended = self
            .runtime
            .block_on(async move { tokio::time::timeout(grace, tasks.wait()).await });
        if ended.is_err() {
            tracing::warn!(
                left = self.tasks.len(),
                "async tasks still running at shutdown; cancelling them"
            );
        }
        self.runtime.shutdown_timeout(Duration::from_millis(100));
    }
}
