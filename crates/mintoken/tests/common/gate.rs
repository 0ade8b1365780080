//! A TCP forwarder between the server and its database that a test can close (every
//! connection cut, new ones refused) and open again: a database outage for one test app
//! without stopping the cluster other tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Gate {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    /// Bumped on every close, so live connections end.
    cut: watch::Sender<u64>,
}

impl Gate {
    pub async fn start(target: SocketAddr) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let (accepting, cuts) = (open.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Gate { addr, open, cut }
    }

    /// Cuts every connection and refuses new ones until [`Gate::open`].
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
