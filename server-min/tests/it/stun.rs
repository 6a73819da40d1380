//! The server answers STUN Binding requests over UDP and announces itself in `welcome`.

use assistrtc_core::protocol::{ClientMessage, ServerMessage};
use serde_json::json;
use tokio::net::UdpSocket;

use crate::support::{Server, within};

fn binding_request(transaction: [u8; 12]) -> Vec<u8> {
    let mut p = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    p.extend_from_slice(&transaction);
    p
}

#[tokio::test]
async fn stun_binding_requests_get_the_senders_address_and_welcome_lists_the_server() {
    let server = Server::start_with(|c| c.stun_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let stun = server.stun_addr().expect("STUN is bound");
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = client.local_addr().unwrap();

    // Garbage first: if it got an answer, that answer would arrive before the real one.
    client.send_to(b"not stun at all", stun).await.unwrap();
    client
        .send_to(&binding_request([5; 12]), stun)
        .await
        .unwrap();
    let mut buf = [0u8; 128];
    let (n, from) = within("STUN answer", client.recv_from(&mut buf))
        .await
        .unwrap();
    assert_eq!(from, stun);
    let answer = &buf[..n];
    assert_eq!(&answer[0..2], &[0x01, 0x01], "binding success");
    assert_eq!(&answer[8..20], &[5; 12], "the transaction id echoed");
    assert_eq!(&answer[20..22], &[0x00, 0x20], "XOR-MAPPED-ADDRESS");
    let port = u16::from_be_bytes([answer[26], answer[27]]) ^ 0x2112;
    let ip: Vec<u8> = answer[28..32]
        .iter()
        .zip([0x21, 0x12, 0xA4, 0x42])
        .map(|(a, k)| a ^ k)
        .collect();
    assert_eq!(port, me.port());
    assert_eq!(ip, vec![127, 0, 0, 1]);

    // Clients learn about it in `welcome`.
    let tokens = server
        .create_room("rm_stun", &[("agent_1", "host")], json!({}))
        .await;
    let mut ws = server.connect().await;
    ws.send(&ClientMessage::Join {
        token: tokens["agent_1"].clone(),
        resume_token: None,
    })
    .await;
    let ServerMessage::Welcome { ice_servers, .. } = ws.recv().await else {
        panic!("expected welcome");
    };
    assert_eq!(ice_servers[0].urls, vec![format!("stun:{stun}")]);
    server.stop().await;
}
