//! The pre-call check on native: a webrtc-rs peer connection to the server's probe endpoint
//! (`POST /v1/preflight/probe`, admitted by a preflight token from the app's backend), the
//! core's probe train up and down through it, and the core's judgement of what was measured
//! (`assistrtc_core::diagnostics::assess`). This module only moves bytes and reads clocks.

use std::sync::Arc;
use std::time::Duration;

use assistrtc_core::Millis;
use assistrtc_core::ToJsonText;
use assistrtc_core::diagnostics::probe::{ProbeConfig, TrainReceiver, TrainSender};
use assistrtc_core::diagnostics::{Measurements, NetworkStats, PathResult, Step, assess};
use bytes::BytesMut;
use tokio::sync::watch;
use tokio::time::{Instant, timeout};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceConnectionState, RTCIceGatheringState,
    RTCSessionDescription,
};

use crate::api::AssistError;

/// Longest the check takes end to end; a step that runs out is reported as incomplete.
const STEP_TIMEOUT: Duration = Duration::from_secs(8);

/// What the check found (the same report the browser SDK gives).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PreflightReport {
    /// `good`, `fair` or `poor`.
    pub verdict: String,
    /// Stable reason codes, worst first.
    pub reasons: Vec<String>,
    /// Stable advice codes for localised text.
    pub advice: Vec<String>,
    /// Mean opinion score estimate, when the network was measured.
    pub mos: Option<f64>,
    /// Some step did not finish.
    pub partial: bool,
    /// The whole report in its one JSON schema (to attach to a ticket or show an agent).
    pub json: String,
}

/// How to run the check.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PreflightOptions {
    /// The server, `http://host:port` (the probe endpoint is under it).
    pub url: String,
    /// A preflight token from `POST /v1/preflight/tokens` (via the app's backend).
    pub token: String,
}

/// Runs the network check against the server and judges it. A server that cannot be reached
/// or a path that never opens is a report (`server_unreachable`, `no_media_path`), not an error;
/// an error means the check itself could not run.
#[uniffi::export(async_runtime = "tokio")]
pub async fn preflight(options: PreflightOptions) -> Result<PreflightReport, AssistError> {
    run(options, vec!["0.0.0.0:0".to_owned()]).await
}

/// [`preflight`] on the given local UDP addresses (Rust only; tests on loopback).
pub async fn preflight_on(
    options: PreflightOptions,
    udp_addrs: Vec<String>,
) -> Result<PreflightReport, AssistError> {
    run(options, udp_addrs).await
}

struct Watch {
    gathered: watch::Sender<bool>,
    connected: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Watch {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if matches!(
            state,
            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed
        ) {
            let _ = self.connected.send(true);
        }
    }
}

fn failed(detail: impl ToString) -> AssistError {
    AssistError::Failed {
        code: "internal".into(),
        detail: detail.to_string(),
    }
}

async fn run(
    options: PreflightOptions,
    udp_addrs: Vec<String>,
) -> Result<PreflightReport, AssistError> {
    let start = Instant::now();
    let since = move || start.elapsed().as_millis() as u64;
    let mut m = Measurements::default();

    let (gathered_tx, mut gathered) = watch::channel(false);
    let (connected_tx, mut connected) = watch::channel(false);
    let handler = Arc::new(Watch {
        gathered: gathered_tx,
        connected: connected_tx,
    });
    let pc = crate::webrtc_link::peer_connection(&[], handler, udp_addrs)
        .await
        .map_err(failed)?;
    let report = measure(&pc, &options, &mut m, &mut gathered, &mut connected, &since).await;
    let _ = pc.close().await;
    report?;
    let report = assess(&m);
    Ok(PreflightReport {
        verdict: report.verdict.as_str().to_owned(),
        reasons: report
            .reasons
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        advice: report
            .advice
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        mos: report.mos,
        partial: report.partial,
        json: report.to_json_text(),
    })
}

/// Fills `m` step by step; an `Err` only when the check itself cannot run.
async fn measure(
    pc: &Arc<dyn PeerConnection>,
    options: &PreflightOptions,
    m: &mut Measurements,
    gathered: &mut watch::Receiver<bool>,
    connected: &mut watch::Receiver<bool>,
    since: &(impl Fn() -> u64 + Sync),
) -> Result<(), AssistError> {
    let dc = pc
        .create_data_channel("probe", None)
        .await
        .map_err(failed)?;
    let offer = pc.create_offer(None).await.map_err(failed)?;
    pc.set_local_description(offer).await.map_err(failed)?;
    // Non-trickle: the endpoint takes one complete offer.
    let _ = timeout(STEP_TIMEOUT, gathered.wait_for(|g| *g)).await;
    let offer = pc
        .local_description()
        .await
        .ok_or_else(|| failed("no offer"))?
        .sdp;

    let url = [options.url.trim_end_matches('/'), "/v1/preflight/probe"].concat();
    let posted = reqwest::Client::new()
        .post(url)
        .bearer_auth(&options.token)
        .header("content-type", "application/sdp")
        .body(offer)
        .timeout(STEP_TIMEOUT)
        .send()
        .await;
    let answer = match posted {
        Err(_) => {
            m.server_reached = Some(false);
            return Ok(());
        }
        Ok(resp) if !resp.status().is_success() => {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            return Err(AssistError::Failed {
                code: if status == 401 {
                    "unauthorized"
                } else {
                    "internal"
                }
                .into(),
                detail: ["the probe endpoint refused the check: ", &body].concat(),
            });
        }
        Ok(resp) => resp.text().await.map_err(failed)?,
    };
    m.server_reached = Some(true);
    let answer = RTCSessionDescription::answer(answer).map_err(failed)?;
    pc.set_remote_description(answer).await.map_err(failed)?;

    // The path: ICE, then the channel (DTLS and SCTP) opening.
    if timeout(STEP_TIMEOUT, connected.wait_for(|c| *c))
        .await
        .is_err()
    {
        m.reachability.udp = PathResult::Unreachable;
        m.incomplete.push(Step::Network);
        return Ok(());
    }
    m.ice_ms = Some(since());
    let open = timeout(STEP_TIMEOUT, async {
        loop {
            match dc.poll().await {
                Some(DataChannelEvent::OnOpen) => return true,
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await;
    if open != Ok(true) {
        m.reachability.udp = PathResult::Unreachable;
        m.incomplete.push(Step::Network);
        return Ok(());
    }
    m.dtls_ms = Some(since());
    m.reachability.udp = PathResult::Reachable;

    // Upload: our train, echoed; the server says what arrived.
    let mut sender = TrainSender::new(ProbeConfig::default());
    let upload = timeout(STEP_TIMEOUT, upload_train(&dc, &mut sender)).await;
    let rtt = sender.rtt();
    let server_side = match upload {
        Ok(Ok(())) => result_text(&dc, "result").await,
        _ => None,
    };
    let up: Option<serde_json::Value> = server_side.and_then(|t| serde_json::from_str(&t).ok());
    match (rtt, up) {
        (Some(rtt), Some(up)) if up["type"] == "upload" => {
            m.network = Some(NetworkStats {
                rtt_ms: rtt.avg,
                jitter_ms: up["jitterMs"]["avg"].as_f64().unwrap_or(0.0),
                loss_pct: up["lossPct"].as_f64().unwrap_or(0.0),
            });
            m.upload_kbps = up["throughputKbps"].as_f64();
        }
        _ => m.incomplete.push(Step::Bandwidth),
    }

    // Download: the server's train, measured here and echoed back.
    if dc.send_text("download").await.is_ok() {
        let mut receiver = TrainReceiver::new();
        let done = timeout(STEP_TIMEOUT, download_train(&dc, &mut receiver)).await;
        match (done, receiver.result().throughput_kbps) {
            (Ok(true), Some(kbps)) => m.download_kbps = Some(kbps),
            _ => {
                if !m.incomplete.contains(&Step::Bandwidth) {
                    m.incomplete.push(Step::Bandwidth);
                }
            }
        }
    }
    Ok(())
}

async fn upload_train(
    dc: &Arc<dyn DataChannel>,
    sender: &mut TrainSender,
) -> Result<(), AssistError> {
    let start = Instant::now();
    let now = || Millis(start.elapsed().as_millis() as u64);
    loop {
        while let Some(p) = sender.poll_transmit(now()) {
            dc.send(BytesMut::from(&p[..])).await.map_err(failed)?;
        }
        if sender.is_done(now()) {
            return Ok(());
        }
        let wake = sender
            .poll_timeout()
            .map_or(start, |at| start + Duration::from_millis(at.0));
        tokio::select! {
            event = dc.poll() => match event {
                Some(DataChannelEvent::OnMessage(m)) if !m.is_string => sender.on_echo(&m.data, now()),
                None => return Err(failed("the probe channel closed")),
                _ => {}
            },
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// Receives the server's train until its closing text; whether it closed.
async fn download_train(dc: &Arc<dyn DataChannel>, receiver: &mut TrainReceiver) -> bool {
    let start = Instant::now();
    loop {
        match dc.poll().await {
            Some(DataChannelEvent::OnMessage(m)) if m.is_string => return true,
            Some(DataChannelEvent::OnMessage(m)) => {
                let now = Millis(start.elapsed().as_millis() as u64);
                if let Some(echo) = receiver.on_packet(&m.data, now) {
                    let _ = dc.send(BytesMut::from(&echo[..])).await;
                }
            }
            Some(_) => {}
            None => return false,
        }
    }
}

/// Sends `request` and returns the next text reply.
async fn result_text(dc: &Arc<dyn DataChannel>, request: &str) -> Option<String> {
    dc.send_text(request).await.ok()?;
    timeout(STEP_TIMEOUT, async {
        loop {
            match dc.poll().await {
                Some(DataChannelEvent::OnMessage(m)) if m.is_string => {
                    return String::from_utf8(m.data.to_vec()).ok();
                }
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}
