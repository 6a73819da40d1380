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
