//! Two native SDK clients (`AssistClient`, used from Rust) in one room of an in-process
//! server, their peer link on 127.0.0.1: the agent sends, the customer's observer sees.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assistrtc_server::{ServerConfig, start};
use assistrtc_uniffi::WebrtcBackend;
use assistrtc_uniffi::api::{
    AssistClient, AssistError, CallEvent, CallObserver, ConnectOptions, Rect, TaskHandle,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Options;
use crate::figures::{self, BURST_TICKET, Burst, Figures, Kind, Latency, PACE, TICKET};

/// Loopback-only secrets for the in-process server.
const API_KEY: &str = "bench-native-api-key";
const JWT_SECRET: &str = "bench-native-jwt-secret-loopback-only";
const AGENT: &str = "agent_1";
const CUSTOMER: &str = "user_9";
/// Longest the server may take to start or stop, a REST call, or a `connect()`.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest the link may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Script steps sent (and awaited) before measuring: the first opens the assist channels.
const WARMUP: usize = 20;

/// Hands every event, stamped on arrival, to the bench.
struct Recorder(mpsc::UnboundedSender<(Instant, CallEvent)>);

impl CallObserver for Recorder {
    fn on_event(&self, event: CallEvent) {
        let _ = self.0.send((Instant::now(), event));
    }
}

/// What one client has seen, each item at the time it was first seen.
#[derive(Default)]
struct Seen {
    state: String,
    steps: HashMap<(String, u32), Instant>,
    shapes: HashMap<String, Instant>,
    /// When the agent's shapes last went from some to none.
    emptied: Option<Instant>,
    had_shapes: bool,
    cursors: HashMap<u64, Instant>,
    ended: Option<String>,
    errors: Vec<String>,
}

impl Seen {
    fn absorb(&mut self, at: Instant, event: CallEvent) {
        match event {
            CallEvent::StateChanged { state } => self.state = state,
            CallEvent::OverlayChanged { overlay } => {
                if let Some(s) = overlay.step {
                    self.steps.entry((s.ticket, s.step)).or_insert(at);
                }
                let mut any = false;
                for shape in overlay.shapes.iter().filter(|s| s.member == AGENT) {
                    any = true;
                    self.shapes.entry(shape.id.clone()).or_insert(at);
                }
                if self.had_shapes && !any {
                    self.emptied = Some(at);
                }
                self.had_shapes = any;
                for c in overlay.cursors.iter().filter(|c| c.member == AGENT) {
                    self.cursors.entry(figures::pointer_key(c.x)).or_insert(at);
                }
            }
            CallEvent::Error { code, message } => self.errors.push(format!("{code}: {message}")),
            CallEvent::Ended { reason, .. } => self.ended = Some(reason),
            _ => {}
        }
    }
}

/// One client with its observer.
struct Client {
    name: &'static str,
    api: Arc<AssistClient>,
    events: mpsc::UnboundedReceiver<(Instant, CallEvent)>,
    seen: Seen,
    _observer: Arc<TaskHandle>,
}

impl Client {
    fn new(name: &'static str, url: &str, token: &str) -> Result<Self, String> {
        let options = ConnectOptions {
            url: url.to_owned(),
            token: token.to_owned(),
            notice_acknowledged: true,
        };
        // The default backend binds 0.0.0.0:0, where webrtc-rs skips loopback.
        let backend = WebrtcBackend::with_udp_addrs(vec!["127.0.0.1:0".to_owned()]);
        let api = AssistClient::with_backend(options, backend).map_err(api_error(name))?;
        let (tx, events) = mpsc::unbounded_channel();
        let observer = api
            .set_observer(Arc::new(Recorder(tx)))
            .map_err(api_error(name))?;
        Ok(Self {
            name,
            api,
            events,
            seen: Seen::default(),
            _observer: observer,
        })
    }

    /// Takes events until `found` finds something in what was seen, or `limit` passes.
    async fn until<T>(&mut self, limit: Duration, found: impl Fn(&Seen) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(t) = found(&self.seen) {
                return Some(t);
            }
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some((at, event))) => self.seen.absorb(at, event),
                _ => return None,
            }
        }
    }

    /// Takes what has arrived so far without waiting.
    fn absorb_ready(&mut self) {
        while let Ok((at, event)) = self.events.try_recv() {
            self.seen.absorb(at, event);
        }
    }
}

fn api_error(who: &'static str) -> impl Fn(AssistError) -> String {
    move |e| format!("{who}: {e}")
}

/// Runs the SDK side: set-up, the latency runs, the burst.
pub(crate) async fn run(options: &Options) -> Result<Figures, String> {
    let mut config = ServerConfig::new(API_KEY, JWT_SECRET);
    config.listen = "127.0.0.1:0".parse().expect("a socket address");
    let server = tokio::time::timeout(STEP_TIMEOUT, start(config))
        .await
        .map_err(|_| "the server did not start in time".to_owned())?
        .map_err(|e| format!("server: {e}"))?;
    let url = format!("http://{}", server.local_addr());
    let result = measure(options, &url).await;
    let _ = tokio::time::timeout(STEP_TIMEOUT, server.shutdown()).await;
    result
}

async fn measure(options: &Options, url: &str) -> Result<Figures, String> {
    let tokens = create_room(url).await?;
    let mut figures = Figures::default();
    let started = Instant::now();
    let mut agent = Client::new("agent", url, &tokens[0])?;
    let mut customer = Client::new("customer", url, &tokens[1])?;
    for c in [&agent, &customer] {
        tokio::time::timeout(STEP_TIMEOUT, c.api.connect())
            .await
            .map_err(|_| format!("{}: connect() did not settle in time", c.name))?
            .map_err(api_error(c.name))?;
    }
    figures
        .setup
        .push(("both connect() returned", started.elapsed()));
    for c in [&mut agent, &mut customer] {
        let connected = c
            .until(CONNECT_TIMEOUT, |s| (s.state == "connected").then_some(()))
            .await;
        if connected.is_none() {
            return Err(format!(
                "{}: not connected after {CONNECT_TIMEOUT:?} (state {:?}, errors {:?})",
                c.name, c.seen.state, c.seen.errors
            ));
        }
    }
    // Without media the link's first offer waits for the core's data timer (1.5 s).
    figures
        .setup
        .push(("both ICE-connected (data-only link)", started.elapsed()));

    // Warm-up: the first message opens the assist channels.
    for i in 0..WARMUP {
        let sent = Instant::now();
        let step = i as u32 + 1;
        agent
            .api
            .script_step("T-warm".into(), step, WARMUP as u32, figures::title(step))
            .await
            .map_err(api_error("agent"))?;
        let key = ("T-warm".to_owned(), step);
        let seen = customer
            .until(CONNECT_TIMEOUT, |s| s.steps.get(&key).copied())
            .await
            .ok_or_else(|| format!("warm-up step {step} never arrived"))?;
        if i == 0 {
            figures
                .setup
                .push(("then first script step seen (channels open)", seen - sent));
        }
    }

    figures.latency = latency(options, &mut agent, &mut customer).await?;
    figures
        .bursts
        .push(("SDK", burst(options, &mut agent, &mut customer).await?));

    agent.absorb_ready();
    customer.absorb_ready();
    for c in [&agent, &customer] {
        if !c.seen.errors.is_empty() {
            eprintln!("{} reported errors: {:?}", c.name, c.seen.errors);
        }
        if let Some(reason) = &c.seen.ended {
            eprintln!("{} ended early: {reason}", c.name);
        }
    }
    for c in [&agent, &customer] {
        let _ = tokio::time::timeout(STEP_TIMEOUT, c.api.leave()).await;
    }
    Ok(figures)
}

/// Sends each kind `options.count` times, one at a time, each awaited on the other side.
async fn latency(
    options: &Options,
    agent: &mut Client,
    customer: &mut Client,
) -> Result<Vec<(Kind, Latency)>, String> {
    let n = options.count;
    let wait = options.wait;
    let mut out: Vec<(Kind, Latency)> =
        Kind::ALL.iter().map(|k| (*k, Latency::default())).collect();
    let mut record = |kind: Kind, sent: Instant, seen: Option<Instant>, i: usize| {
        let l = &mut out
            .iter_mut()
            .find(|(k, _)| *k == kind)
            .expect("every kind")
            .1;
        l.bytes += figures::wire_text(kind, i, n).len();
        match seen {
            Some(at) => l.samples.push(at.saturating_duration_since(sent)),
            None => l.lost += 1,
        }
    };

    let mut next = Instant::now();
    for i in 0..n {
        let step = i as u32 + 1;
        let sent = paced(&mut next).await;
        agent
            .api
            .script_step(TICKET.into(), step, n as u32, figures::title(step))
            .await
            .map_err(api_error("agent"))?;
        let key = (TICKET.to_owned(), step);
        let seen = customer.until(wait, |s| s.steps.get(&key).copied()).await;
        record(Kind::Step, sent, seen, i);
    }

    let rect = Rect {
        x: figures::RECT.x,
        y: figures::RECT.y,
        w: figures::RECT.w,
        h: figures::RECT.h,
    };
    for i in 0..n {
        let sent = paced(&mut next).await;
        let id = agent
            .api
            .highlight(rect, figures::COLOR.into(), 0, 0)
            .await
            .map_err(api_error("agent"))?;
        let seen = customer.until(wait, |s| s.shapes.get(&id).copied()).await;
        record(Kind::Highlight, sent, seen, i);
        // Removed again, so the overlay never reaches its cap of live shapes.
        customer.seen.emptied = None;
        let sent = paced(&mut next).await;
        agent
            .api
            .clear(Some(id), 0)
            .await
            .map_err(api_error("agent"))?;
        let seen = customer.until(wait, |s| s.emptied).await;
        record(Kind::Clear, sent, seen, i);
    }

    for i in 0..n {
        let x = figures::pointer_x(i, n);
        let sent = paced(&mut next).await;
        agent
            .api
            .pointer(x, 0.5, 0)
            .await
            .map_err(api_error("agent"))?;
        let key = figures::pointer_key(x);
        let seen = customer.until(wait, |s| s.cursors.get(&key).copied()).await;
        record(Kind::Pointer, sent, seen, i);
    }
    for (_, l) in &mut out {
        l.bytes /= n.max(1);
    }
    Ok(out)
}

/// Waits until `next`, then sets the next send [`PACE`] later; returns the send time.
async fn paced(next: &mut Instant) -> Instant {
    tokio::time::sleep_until((*next).into()).await;
    let now = Instant::now();
    *next = now + PACE;
    now
}

/// `options.burst` script steps handed to the API back to back; done when the last is seen.
async fn burst(
    options: &Options,
    agent: &mut Client,
    customer: &mut Client,
) -> Result<Burst, String> {
    let m = options.burst;
    let bytes = (0..m).map(|i| figures::burst_text(i, m).len()).sum();
    let started = Instant::now();
    for i in 0..m {
        let step = i as u32 + 1;
        agent
            .api
            .script_step(BURST_TICKET.into(), step, m as u32, figures::title(step))
            .await
            .map_err(api_error("agent"))?;
    }
    let accepted = started.elapsed();
    let key = (BURST_TICKET.to_owned(), m as u32);
    let last = customer
        .until(options.burst_wait, |s| s.steps.get(&key).copied())
        .await;
    customer.absorb_ready();
    let delivered = customer
        .seen
        .steps
        .keys()
        .filter(|(ticket, _)| ticket == BURST_TICKET)
        .count();
    Ok(Burst {
        sent: m,
        delivered,
        bytes,
        elapsed: last.map_or_else(|| started.elapsed(), |at| at - started),
        accepted,
        complete: last.is_some(),
    })
}

/// Creates the room (`POST /v1/rooms`); returns the agent's and the customer's tokens.
async fn create_room(url: &str) -> Result<[String; 2], String> {
    let http = reqwest::Client::builder()
        // Loopback only: never go through a proxy from the environment.
        .no_proxy()
        .timeout(STEP_TIMEOUT)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let body = json!({
        "roomId": "rm_native_bench",
        "members": [{"id": AGENT, "role": "host"}, {"id": CUSTOMER, "role": "guest"}],
    });
    let response = http
        .post(format!("{url}/v1/rooms"))
        .bearer_auth(API_KEY)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST /v1/rooms: {e}"))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| format!("POST /v1/rooms: {status}, unreadable body: {e}"))?;
    if !status.is_success() {
        return Err(format!("POST /v1/rooms: {status} {answer}"));
    }
    let token = |id: &str| {
        answer["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["id"] == id))
            .and_then(|m| m["token"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("POST /v1/rooms: no token for `{id}` in {answer}"))
    };
    Ok([token(AGENT)?, token(CUSTOMER)?])
}
