//! Running the site: serving the router on a listener, and the in-process site tests start
//! and stop.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::DemoConfig;
use crate::control::DemoControl;
use crate::routes::router;

/// Serve `control` on `listener` until `shutdown` completes (then finish in-flight requests).
pub async fn serve<F>(
    listener: TcpListener,
    control: DemoControl,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, router(control))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Entry point for running the site in-process.
pub struct DemoSite;

impl DemoSite {
    /// Generate the data, bind `config.listen` (default `127.0.0.1:0`) and serve in
    /// a background task of the current Tokio runtime.
    pub async fn start(config: DemoConfig) -> std::io::Result<DemoSiteHandle> {
        let control = DemoControl::new(&config);
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, control.clone(), async move {
            let _ = rx.await;
        }));
        Ok(DemoSiteHandle {
            addr,
            control,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// A running in-process site. Derefs to [`DemoControl`] for the runtime controls.
/// Dropping it stops the server.
#[derive(Debug)]
pub struct DemoSiteHandle {
    addr: SocketAddr,
    control: DemoControl,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl DemoSiteHandle {
    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash); both the
    /// `apiUrl` and the `baseUrl` of the source.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A clone of the controls (usable after the handle is moved or dropped).
    pub fn control(&self) -> DemoControl {
        self.control.clone()
    }

    /// Stop accepting, finish in-flight requests, and wait for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Deref for DemoSiteHandle {
    type Target = DemoControl;
    fn deref(&self) -> &DemoControl {
        &self.control
    }
}

impl Drop for DemoSiteHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
