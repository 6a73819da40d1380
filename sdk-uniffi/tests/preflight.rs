//! The native pre-call check against the real server's probe endpoint on loopback: a clean
//! loopback is judged good with every figure measured; an unreachable server is a poor report
//! (not an error); a token the probe does not accept is an error with a code.

use assistrtc_uniffi::api::AssistError;
use assistrtc_uniffi::preflight::{PreflightOptions, preflight_on};

mod common;
use common::start_server;

fn loopback() -> Vec<String> {
    vec!["127.0.0.1:0".to_owned()]
}

async fn preflight_token(base: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/preflight/tokens"))
        .bearer_auth(common::API_KEY)
        .send()
        .await
        .expect("token issued");
    let body: serde_json::Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_loopback_is_good_and_every_figure_is_measured() {
    let server = start_server().await;
    let base = format!("http://{}", server.local_addr());
    let token = preflight_token(&base).await;
    let report = tokio::time::timeout(
        common::WAIT,
        preflight_on(PreflightOptions { url: base, token }, loopback()),
    )
    .await
    .expect("the check ends in time")
    .expect("the check runs");
    assert_eq!(report.verdict, "good", "{report:?}");
    assert!(report.reasons.is_empty() && !report.partial, "{report:?}");
    assert!(report.mos.unwrap() > 4.0, "{report:?}");
    for field in [
        r#""udp":"reachable""#,
        r#""upload_kbps":"#,
        r#""download_kbps":"#,
        r#""rtt_ms":"#,
        r#""ice_ms":"#,
    ] {
        assert!(
            report.json.contains(field),
            "{field} missing: {}",
            report.json
        );
    }
    tokio::time::timeout(common::WAIT, server.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_poor_report_and_a_bad_token_an_error() {
    let report = preflight_on(
        PreflightOptions {
            url: "http://127.0.0.1:1".into(),
            token: "t".into(),
        },
        loopback(),
    )
    .await
    .expect("the check runs");
    assert_eq!(report.verdict, "poor");
    assert_eq!(report.reasons, vec!["server_unreachable".to_owned()]);
    assert_eq!(report.advice, vec!["check_connection".to_owned()]);

    let server = start_server().await;
    let base = format!("http://{}", server.local_addr());
    let refused = preflight_on(
        PreflightOptions {
            url: base,
            token: "not-a-preflight-token".into(),
        },
        loopback(),
    )
    .await
    .unwrap_err();
    assert!(matches!(&refused, AssistError::Failed { code, .. } if code == "unauthorized"));
    tokio::time::timeout(common::WAIT, server.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customers_report_travels_with_the_join_and_the_agent_sees_it() {
    use std::sync::Arc;

    use assistrtc_uniffi::WebrtcBackend;
    use assistrtc_uniffi::api::{AssistClient, CallEvent, ConnectOptions};
    use common::{Events, tokens, until};

    let server = start_server().await;
    let base = format!("http://{}", server.local_addr());
    let token = preflight_token(&base).await;
    let report = preflight_on(
        PreflightOptions {
            url: base.clone(),
            token,
        },
        loopback(),
    )
    .await
    .expect("the check runs");
    let (agent_token, customer_token) = tokens(&base, "rm_report", r#"{"screen":true}"#).await;
    let client = |token: String| {
        let options = ConnectOptions {
            url: base.clone(),
            token,
            notice_acknowledged: true,
        };
        AssistClient::with_backend(options, WebrtcBackend::with_udp_addrs(loopback())).unwrap()
    };
    let (agent, customer) = (client(agent_token), client(customer_token));
    let seen = Arc::new(Events::default());
    let _observing = agent.set_observer(seen.clone()).unwrap();
    agent.connect().await.unwrap();

    // Not a report: refused with a code, nothing shared.
    let bad = customer.share_diagnostics("[]".into()).await.unwrap_err();
    assert!(matches!(&bad, AssistError::Failed { code, .. } if code == "bad_request"));
    // Shared before joining (the user agreed on the pre-call screen): it goes with the join.
    customer
        .share_diagnostics(report.json.clone())
        .await
        .unwrap();
    customer.connect().await.unwrap();
    let got = until("the agent is told of the report", async || {
        seen.0.lock().unwrap().iter().find_map(|e| match e {
            CallEvent::MemberDiagnostics { member, report } if member == "user_9" => {
                Some(report.clone())
            }
            _ => None,
        })
    })
    .await;
    assert_eq!(got, report.json);
    let members = agent.members().await;
    assert_eq!(
        members[0].diagnostics.as_deref(),
        Some(report.json.as_str())
    );

    customer.leave().await;
    agent.leave().await;
    tokio::time::timeout(common::WAIT, server.shutdown())
        .await
        .unwrap()
        .unwrap();
}
