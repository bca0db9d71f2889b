//! A TCP proxy between a pool and the server, which a test can take down (connections cut,
//! new ones refused: a stopped server, without stopping the one every test shares), bring
//! back on the same port, or make swallow the server's replies (an answer lost after the
//! server committed).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_postgres::Config;
use tokio_postgres::config::Host;

#[derive(Default)]
struct State {
    accept: Mutex<Option<JoinHandle<()>>>,
    conns: Mutex<Vec<JoinHandle<()>>>,
    swallow: AtomicBool,
}

pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    state: Arc<State>,
}

impl Proxy {
    /// A proxy on a free loopback port to the server of `config` (TCP host and port).
    pub async fn start(config: &Config) -> Proxy {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            other => panic!("the proxy needs a TCP host in DATABASE_URL, not {other:?}"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let upstream = tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            upstream,
            state: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    /// `config` (database, user, options) through this proxy.
    pub fn config(&self, config: &Config) -> Config {
        let mut c = Config::new();
        c.host("127.0.0.1").port(self.addr.port());
        if let Some(u) = config.get_user() {
            c.user(u);
        }
        if let Some(p) = config.get_password() {
            c.password(p);
        }
        if let Some(d) = config.get_dbname() {
            c.dbname(d);
        }
        if let Some(o) = config.get_options() {
            c.options(o);
        }
        if let Some(a) = config.get_application_name() {
            c.application_name(a);
        }
        c
    }

    fn serve(&self, listener: TcpListener) {
        let (state, upstream) = (Arc::clone(&self.state), self.upstream);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let st = Arc::clone(&state);
                let conn = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    pipe(client, server, &st).await;
                });
                state.conns.lock().unwrap().push(conn);
            }
        });
        *self.state.accept.lock().unwrap() = Some(accept);
    }

    /// Close every connection; keep accepting new ones.
    pub fn cut(&self) {
        for c in self.state.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// The server is gone: every connection cut, new ones refused.
    pub fn down(&self) {
        if let Some(a) = self.state.accept.lock().unwrap().take() {
            a.abort();
        }
        self.cut();
    }

    /// The server is back, on the same port.
    pub async fn up(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                // The aborted accept task may not have dropped the old listener yet.
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(e) => panic!("rebinding the proxy: {e}"),
            }
        };
        self.serve(listener);
    }

    /// While on, whatever the server sends is read and dropped.
    pub fn swallow_replies(&self, on: bool) {
        self.state.swallow.store(on, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}

async fn pipe(client: TcpStream, server: TcpStream, state: &State) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if state.swallow.load(Ordering::SeqCst) {
                        continue;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}
