//! The threads connections are served on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The threads connections are served on: one single-threaded runtime per worker thread of the
/// runtime `serve` runs on, each connection on one of them from its accept to its close (its
/// socket, timers and requests together), a new one on the worker serving the fewest. The
/// multi-threaded runtime wakes an idle worker whenever another finds work, so that it may
/// steal: for short requests those wake-ups were a tenth of the server's CPU (BENCHMARKS.md,
/// goal 2), and a connection's requests come one after another anyway. On a single-threaded
/// runtime (tests) connections are served on it, with no threads of their own.
pub(super) struct Workers {
    workers: Vec<Worker>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct Worker {
    handle: tokio::runtime::Handle,
    /// Connections it serves.
    load: Arc<AtomicUsize>,
    /// Dropped to stop it.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A connection counted in its worker's load.
struct Load(Arc<AtomicUsize>);

impl Drop for Load {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    pub(super) fn start() -> std::io::Result<Workers> {
        let count = tokio::runtime::Handle::current().metrics().num_workers();
        let mut workers = Workers {
            workers: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..if count < 2 { 0 } else { count } {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            workers.workers.push(Worker {
                handle: runtime.handle().clone(),
                load: Arc::new(AtomicUsize::new(0)),
                _stop: stop,
            });
            workers.threads.push(
                std::thread::Builder::new()
                    .name(format!("glacier-conn-{i}"))
                    .spawn(move || {
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    })?,
            );
        }
        Ok(workers)
    }

    /// Serves `stream` with `serve` in `tasks`: on the least loaded worker, its socket moved to
    /// that worker's event loop, or on the current runtime when there are no workers.
    pub(super) fn spawn<F>(
        &self,
        tasks: &mut JoinSet<()>,
        stream: TcpStream,
        serve: impl FnOnce(TcpStream) -> F + Send + 'static,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some((worker, load)) = self.next() else {
            tasks.spawn(serve(stream));
            return;
        };
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "handing a connection to a worker failed");
                return;
            }
        };
        let served = async move {
            let _load = load;
            match TcpStream::from_std(stream) {
                Ok(stream) => serve(stream).await,
                Err(e) => tracing::warn!(error = %e, "a worker could not take a connection"),
            }
        };
        tasks.spawn_on(served, worker);
    }

    /// The least loaded worker and the new connection's place in its load, or none to serve it
    /// on the current runtime.
    fn next(&self) -> Option<(&tokio::runtime::Handle, Load)> {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.load.load(Ordering::Relaxed))?;
        worker.load.fetch_add(1, Ordering::Relaxed);
        Some((&worker.handle, Load(Arc::clone(&worker.load))))
    }

    /// Stops the workers and waits for their threads (what their runtimes still hold, such as
    /// a notification being sent, is dropped with them).
    pub(super) async fn stop(self) {
        drop(self.workers);
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        if let Err(e) = joined.await {
            tracing::warn!(error = %e, "connection workers did not stop cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Limits;
    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::sync::CancellationToken;

    /// The name of the thread that answered, over a connection of its own kept open.
    async fn ask(addr: std::net::SocketAddr) -> anyhow::Result<(tokio::net::TcpStream, String)> {
        let mut c = tokio::net::TcpStream::connect(addr).await?;
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"!") {
            let n = c.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(got)?;
        let name = text
            .rsplit("\r\n\r\n")
            .next()
            .unwrap_or("")
            .trim_end_matches('!');
        Ok((c, name.to_owned()))
    }

    /// On a multi-threaded runtime, connections are served on the connection threads, a new
    /// one on the thread serving the fewest; the server stops with them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_are_spread_over_the_connection_threads() -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new().route(
            "/",
            get(|| async { format!("{}!", std::thread::current().name().unwrap_or("?")) }),
        );
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(super::super::serve(
            listener,
            app,
            Limits::default(),
            None,
            shutdown.clone(),
        ));
        let (_first, a) = ask(addr).await?;
        let (second, b) = ask(addr).await?;
        let mut names = [a, b.clone()];
        names.sort();
        assert_eq!(names, ["glacier-conn-0", "glacier-conn-1"]);
        // Once the second connection has closed its thread serves none, and the next
        // connection goes there (taking turns would give it to the first's).
        drop(second);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (_third, c) = ask(addr).await?;
        assert_eq!(c, b);
        shutdown.cancel();
        server.await??;
        Ok(())
    }

    /// On a single-threaded runtime connections stay on it: no threads of their own.
    #[tokio::test]
    async fn a_single_threaded_runtime_serves_its_connections_itself() -> anyhow::Result<()> {
        let workers = super::Workers::start()?;
        assert!(workers.next().is_none());
        workers.stop().await;
        Ok(())
    }
}
