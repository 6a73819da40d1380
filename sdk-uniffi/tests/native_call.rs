//! Two native clients on the built-in media in a real call through the real server on
//! loopback: a source the app feeds with its own encoded frames reaches the other side,
//! labelled by source; what a member may not publish is refused before anything is sent.

use std::sync::Arc;
use std::time::Duration;

use assistrtc_uniffi::WebrtcBackend;
use assistrtc_uniffi::api::{AssistClient, AssistError, CallEvent, ConnectOptions, Source};

mod common;
use common::{Events, start_server, tokens, until};

fn loopback_client(base: &str, token: String) -> Arc<AssistClient> {
    let options = ConnectOptions {
        url: base.to_owned(),
        token,
        notice_acknowledged: true,
    };
    let backend = WebrtcBackend::with_udp_addrs(vec!["127.0.0.1:0".to_owned()]);
    AssistClient::with_backend(options, backend).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_the_app_feeds_arrive_labelled_and_forbidden_sources_are_refused() {
    let server = start_server().await;
    let base = format!("http://{}", server.local_addr());
    let (agent_token, customer_token) = tokens(&base, "rm_frames", r#"{"screen":false}"#).await;
    let agent = loopback_client(&base, agent_token);
    let customer = loopback_client(&base, customer_token);
    let seen = Arc::new(Events::default());
    let _observing = agent.set_observer(seen.clone()).unwrap();
    agent.connect().await.unwrap();
    customer.connect().await.unwrap();

    // The room does not allow screen sharing: refused, and nothing was announced.
    let refused = customer.publish_frames(Source::Screen).await.err().unwrap();
    assert!(matches!(&refused, AssistError::Failed { code, .. } if code == "forbidden"));

    // The app's own "encoder": 30 frames a second of opaque payload (the receiving side
    // counts RTP frames; decoding is the browser test's business).
    let camera = customer.publish_frames(Source::Camera).await.unwrap();
    let feeding = tokio::spawn(async move {
        for n in 0u32..300 {
            let frame = vec![(n % 251) as u8; 1_200];
            if camera.write_frame(frame, 33).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(33)).await;
        }
    });
    until("the agent sees the customer's camera track", async || {
        seen.0.lock().unwrap().iter().find_map(|e| match e {
            CallEvent::TrackAdded { member, source, .. }
                if member == "user_9" && *source == Source::Camera =>
            {
                Some(())
            }
            _ => None,
        })
    })
    .await;
    until("the agent receives the frames", async || {
        (agent.frames_received("user_9".into(), Source::Camera) > 20).then_some(())
    })
    .await;
    assert_eq!(agent.frames_received("user_9".into(), Source::Screen), 0);
    let members = agent.members().await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].sources, vec![Source::Camera]);

    feeding.abort();
    customer.leave().await;
    agent.leave().await;
    tokio::time::timeout(common::WAIT, server.shutdown())
        .await
        .expect("server stops in time")
        .expect("server stops");
}
