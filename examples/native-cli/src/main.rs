//! `assistrtc-cli --url http://127.0.0.1:8080 --token <jwt> [--publish-ivf camera.ivf]
//! [--highlight 0.1,0.1,0.3,0.2] [--step "T-1/1/3/Check the cable"] [--stay-secs 30]`
//! `assistrtc-cli --url http://127.0.0.1:8080 --preflight-token <jwt>` (the pre-call check)
//!
//! Joins a room as the member the token names, prints every event as one line, optionally
//! publishes a VP8 IVF file as its camera (`ffmpeg -f lavfi -i testsrc -c:v libvpx x.ivf`),
//! draws a highlight and shows a script step (as an agent), then leaves. Usable as a scripted
//! agent or customer beside the browser demo.

use std::sync::Arc;
use std::time::Duration;

use assistrtc_uniffi::api::{AssistClient, CallEvent, CallObserver, ConnectOptions, Rect, Source};
use assistrtc_uniffi::preflight::{PreflightOptions, preflight};
use clap::Parser;

#[derive(Parser)]
#[command(about = "A native AssistRTC client: join, print events, publish, annotate")]
struct Args {
    /// The server, `http(s)://host:port`.
    #[arg(long)]
    url: String,
    /// The member's join token.
    #[arg(long, required_unless_present = "preflight_token")]
    token: Option<String>,
    /// Run the pre-call network check with this preflight token (`POST /v1/preflight/tokens`)
    /// and print its report instead of joining.
    #[arg(long)]
    preflight_token: Option<String>,
    /// A VP8 IVF file to publish as the camera, played in a loop.
    #[arg(long)]
    publish_ivf: Option<String>,
    /// A box to draw once joined: `x,y,w,h` in 0..1.
    #[arg(long)]
    highlight: Option<String>,
    /// A script step to show: `ticket/step/total/title`.
    #[arg(long)]
    step: Option<String>,
    /// How long to stay in the call before leaving.
    #[arg(long, default_value_t = 30)]
    stay_secs: u64,
}

/// Prints each event; says when the call has ended.
struct Print(tokio::sync::mpsc::UnboundedSender<()>);

impl CallObserver for Print {
    fn on_event(&self, event: CallEvent) {
        println!("{event:?}");
        if let CallEvent::Ended { .. } = event {
            let _ = self.0.send(());
        }
    }
}

fn rect(text: &str) -> Result<Rect, String> {
    let v: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p}: {e}")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [x, y, w, h] => Ok(Rect { x, y, w, h }),
        _ => Err("--highlight wants x,y,w,h".into()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    if let Some(token) = args.preflight_token {
        let report = preflight(PreflightOptions {
            url: args.url,
            token,
        })
        .await
        .map_err(|e| e.to_string())?;
        println!("{}", report.json);
        return Ok(());
    }
    let client = AssistClient::new(ConnectOptions {
        url: args.url,
        token: args.token.unwrap_or_default(),
        notice_acknowledged: true,
    })
    .map_err(|e| e.to_string())?;
    let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel();
    let _events = client
        .set_observer(Arc::new(Print(ended_tx)))
        .map_err(|e| e.to_string())?;
    client.connect().await.map_err(|e| e.to_string())?;
    if let Some(path) = args.publish_ivf {
        client
            .publish_ivf(Source::Camera, path)
            .await
            .map_err(|e| e.to_string())?;
    }
    if let Some(r) = args.highlight {
        let id = client
            .highlight(rect(&r)?, "#ff0000".into(), 0, 0)
            .await
            .map_err(|e| e.to_string())?;
        println!("drew {id}");
    }
    if let Some(step) = args.step {
        let parts: Vec<&str> = step.splitn(4, '/').collect();
        let [ticket, n, total, title] = parts[..] else {
            return Err("--step wants ticket/step/total/title".into());
        };
        let n = n.parse().map_err(|_| "step: not a number")?;
        let total = total.parse().map_err(|_| "total: not a number")?;
        client
            .script_step(ticket.into(), n, total, title.into())
            .await
            .map_err(|e| e.to_string())?;
    }
    // Stay until the time is up, or the call ends by itself (removed, replaced, unreachable).
    if tokio::time::timeout(Duration::from_secs(args.stay_secs), ended.recv())
        .await
        .is_err()
    {
        client.leave().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), ended.recv()).await;
    }
    Ok(())
}
