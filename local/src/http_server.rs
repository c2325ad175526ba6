//! A local HTTP server: an axum [`Router`] served on a port of this machine until it is told to
//! stop. The local API Gateway and the merchant's webhook receiver run on one each (the Lambda
//! Runtime API keeps its own, stopped with the functions' processes).

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server.
#[derive(Debug)]
pub struct HttpServer {
    /// Who serves, in the messages of a failed server (`api`, `merchant`).
    name: &'static str,
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Binds `bind` (port 0: any free port) and serves `app` there, handing each request the
    /// caller's address (`ConnectInfo<SocketAddr>`).
    pub async fn start(bind: SocketAddr, name: &'static str, app: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Self {
            name,
            address,
            stop,
            server,
        })
    }

    /// The address it listens on (the port chosen when `bind` had port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections and waits for the requests in flight to be answered.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("{} | the server failed: {error}", self.name),
            Err(error) => eprintln!("{} | the server task failed: {error}", self.name),
        }
    }
}
