//! [`TcpProxy`]: listens on one address, connects each client to one upstream, and passes the
//! bytes both ways through the proxy's toxics, which may change while connections are open.

use super::link::{Close, Direction, Ending, Hits, pump};
use crate::derive_seed;
use crate::toxic::{Stream, Toxic, ToxicError};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a [`TcpProxy`] has done since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpMetrics {
    /// Connections accepted and connected upstream.
    pub connections: u64,
    /// Connections open now.
    pub open: usize,
    /// Connections each toxic acted on (drawn by its toxicity), by toxic name; a toxic removed
    /// keeps its count.
    pub toxicated: BTreeMap<String, u64>,
}

/// A TCP proxy with Toxiproxy's toxics.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use chaos_fault::tcp::{LatencyToxic, Stream, TcpProxy, Toxic, ToxicKind};
/// let redis = TcpProxy::start("redis", "127.0.0.1:26379".parse().unwrap(), "127.0.0.1:6379", 7).await?;
/// let lag = ToxicKind::Latency(LatencyToxic { latency: 100, jitter: 10 });
/// redis.add_toxic(Toxic::new(Stream::Downstream, lag)).unwrap();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TcpProxy {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    name: String,
    listen: SocketAddr,
    upstream: Mutex<String>,
    toxics: watch::Sender<Arc<[Toxic]>>,
    seed: u64,
    connections: AtomicU64,
    hits: Hits,
    open: Mutex<Vec<Weak<Ending>>>,
    accepting: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(accept) = self.accepting.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            accept.abort();
        }
    }
}

impl TcpProxy {
    /// Listens on `listen` (port 0: a free port, kept when re-enabled) and forwards each
    /// connection to `upstream` (`host:port`). `seed` seeds every draw.
    pub async fn start(name: &str, listen: SocketAddr, upstream: &str, seed: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let shared = Arc::new(Shared {
            name: name.to_string(),
            listen: listener.local_addr()?,
            upstream: Mutex::new(upstream.to_string()),
            toxics: watch::channel(Arc::from(Vec::new())).0,
            seed,
            connections: AtomicU64::new(0),
            hits: Hits::default(),
            open: Mutex::default(),
            accepting: Mutex::default(),
        });
        shared.accept_on(listener);
        Ok(Self { shared })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The address it listens on.
    pub fn listen(&self) -> SocketAddr {
        self.shared.listen
    }

    /// Where it connects to.
    pub fn upstream(&self) -> String {
        self.shared.upstream.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Connects new connections to `upstream` from now on (open ones stay where they are).
    pub fn set_upstream(&self, upstream: &str) {
        *self.shared.upstream.lock().unwrap_or_else(|p| p.into_inner()) = upstream.to_string();
    }

    /// Whether it accepts connections.
    pub fn enabled(&self) -> bool {
        self.shared.accepting.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Disabling closes the listener and every open connection; enabling listens again on the
    /// same address.
    pub async fn set_enabled(&self, on: bool) -> std::io::Result<()> {
        match (on, self.enabled()) {
            (true, false) => {
                let listener = TcpListener::bind(self.shared.listen).await?;
                self.shared.accept_on(listener);
            }
            (false, true) => {
                let accept = self.shared.accepting.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(accept) = accept {
                    accept.abort();
                    // Waits for the listener to be dropped, so that enabling at once can bind
                    // the address again (Toxiproxy clients disable and enable back to back).
                    let _ = accept.await;
                }
                self.end_connections(Close::Graceful);
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends every open connection (`Close::Reset`: with a TCP RST).
    fn end_connections(&self, how: Close) {
        let open = std::mem::take(&mut *self.shared.open.lock().unwrap_or_else(|p| p.into_inner()));
        for ending in open.iter().filter_map(Weak::upgrade) {
            ending.end(how);
        }
    }

    /// The toxics in place, in the order they act.
    pub fn toxics(&self) -> Vec<Toxic> {
        self.shared.toxics.borrow().to_vec()
    }

    /// Adds a toxic (checked, its default name filled in); it acts on open connections too.
    pub fn add_toxic(&self, toxic: Toxic) -> Result<Toxic, ToxicError> {
        let toxic = toxic.checked()?;
        let mut added = Ok(toxic.clone());
        self.shared.toxics.send_if_modified(|list| {
            if list.iter().any(|t| t.name == toxic.name) {
                added = Err(ToxicError::Exists(toxic.name.clone()));
                return false;
            }
            *list = list.iter().cloned().chain([toxic.clone()]).collect();
            true
        });
        added
    }

    /// Replaces the toxic named `name` with `toxic` (checked; the name may not change).
    pub fn update_toxic(&self, name: &str, toxic: Toxic) -> Result<Toxic, ToxicError> {
        let toxic = Toxic { name: name.to_string(), ..toxic }.checked()?;
        let mut updated = Err(ToxicError::NotFound(name.to_string()));
        self.shared.toxics.send_if_modified(|list| {
            let Some(i) = list.iter().position(|t| t.name == name) else { return false };
            let mut new = list.to_vec();
            new[i] = toxic.clone();
            *list = new.into();
            updated = Ok(toxic.clone());
            true
        });
        updated
    }

    /// Removes the toxic named `name`.
    pub fn remove_toxic(&self, name: &str) -> Result<(), ToxicError> {
        let mut found = false;
        self.shared.toxics.send_if_modified(|list| {
            found = list.iter().any(|t| t.name == name);
            if found {
                *list = list.iter().filter(|t| t.name != name).cloned().collect();
            }
            found
        });
        if found { Ok(()) } else { Err(ToxicError::NotFound(name.to_string())) }
    }

    /// Removes every toxic.
    pub fn clear_toxics(&self) {
        self.shared.toxics.send_replace(Arc::from(Vec::new()));
    }

    /// What it has done so far: connections accepted, and the connections each toxic acted on.
    pub fn metrics(&self) -> TcpMetrics {
        TcpMetrics {
            connections: self.shared.connections.load(Ordering::Relaxed),
            open: self
                .shared
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|e| e.strong_count() > 0)
                .count(),
            toxicated: self.shared.hits.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Stops listening and ends every connection.
    pub async fn shutdown(&self) {
        let _ = self.set_enabled(false).await;
    }
}

impl Shared {
    fn accept_on(self: &Arc<Self>, listener: TcpListener) {
        let me = Arc::downgrade(self);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    // Out of descriptors, say: try again shortly rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let Some(shared) = me.upgrade() else { return };
                tokio::spawn(shared.connect(client));
            }
        });
        *self.accepting.lock().unwrap_or_else(|p| p.into_inner()) = Some(accept);
    }

    /// Serves one client: connects it upstream (or closes it when that fails, as Toxiproxy
    /// does) and pumps both ways until both are done or the connection is ended.
    async fn connect(self: Arc<Self>, client: TcpStream) {
        // Tracked before anything is awaited, then checked: a proxy disabled while this
        // connection waited for its turn or for its upstream ends it too, rather than leave one
        // kept-alive connection serving its client through a "killed" proxy.
        let ending = Ending::new();
        {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.retain(|e| e.strong_count() > 0);
            open.push(Arc::downgrade(&ending));
        }
        if self.accepting.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            return;
        }
        let upstream = self.upstream.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let server = tokio::select! {
            server = TcpStream::connect(&upstream) => server,
            _ = ending.ended() => return,
        };
        let Ok(server) = server else { return };
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        let n = self.connections.fetch_add(1, Ordering::Relaxed);
        let direction = |stream: Stream| Direction {
            stream,
            toxics: self.toxics.subscribe(),
            ending: ending.clone(),
            rng: SmallRng::seed_from_u64(derive_seed(self.seed, &format!("{}/{n}/{}", self.name, stream.name()))),
            hits: self.hits.clone(),
        };
        let (client_in, client_out) = client.into_split();
        let (server_in, server_out) = server.into_split();
        tokio::join!(
            pump(client_in, server_out, direction(Stream::Upstream)),
            pump(server_in, client_out, direction(Stream::Downstream)),
        );
    }
}
