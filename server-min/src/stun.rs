//! A STUN server for the Binding method only (RFC 8489): it tells a client the address its
//! packets come from, which browsers need to gather server-reflexive ICE candidates. No
//! authentication, no other methods; anything else is ignored without an answer.

use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::sync::watch;

/// The fixed value in every STUN header since RFC 5389.
const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// Requests larger than this are not STUN Binding requests we answer.
const MAX_REQUEST: usize = 548;

/// The answer to `packet` from `from`, or `None` when it is not a well-formed Binding request.
pub(crate) fn respond(packet: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    if packet.len() < HEADER_LEN || packet.len() > MAX_REQUEST {
        return None;
    }
    let kind = u16::from_be_bytes([packet[0], packet[1]]);
    let len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let cookie = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    // The two top bits of a STUN message are zero, attributes are 4-byte aligned, and the
    // length covers exactly what follows the header.
    if kind != BINDING_REQUEST
        || cookie != MAGIC_COOKIE
        || len % 4 != 0
        || HEADER_LEN + len != packet.len()
    {
        return None;
    }
    let transaction = &packet[8..HEADER_LEN];

    let port = from.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut value = vec![0, 0];
    value.extend_from_slice(&port.to_be_bytes());
    match from.ip() {
        IpAddr::V4(ip) => {
            value[1] = 0x01;
            let x = u32::from(ip) ^ MAGIC_COOKIE;
            value.extend_from_slice(&x.to_be_bytes());
        }
        IpAddr::V6(ip) => {
            value[1] = 0x02;
            let mut key = MAGIC_COOKIE.to_be_bytes().to_vec();
            key.extend_from_slice(transaction);
            value.extend(ip.octets().iter().zip(&key).map(|(a, k)| a ^ k));
        }
    }
    let attr_len = value.len() as u16;
    let mut out = Vec::with_capacity(HEADER_LEN + 4 + value.len());
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&(4 + attr_len).to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(transaction);
    out.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
    out.extend_from_slice(&attr_len.to_be_bytes());
    out.extend_from_slice(&value);
    Some(out)
}

/// Answers Binding requests on `socket` until `stop` turns true.
pub(crate) async fn serve(socket: UdpSocket, mut stop: watch::Receiver<bool>) {
    let mut buf = [0u8; MAX_REQUEST + 1];
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { return },
            received = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = received else { continue };
                if let Some(answer) = respond(&buf[..n], from) {
                    // A lost answer is retried by the client, as STUN over UDP expects.
                    let _ = socket.send_to(&answer, from).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(transaction: [u8; 12]) -> Vec<u8> {
        let mut p = BINDING_REQUEST.to_be_bytes().to_vec();
        p.extend_from_slice(&0u16.to_be_bytes());
        p.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        p.extend_from_slice(&transaction);
        p
    }

    #[test]
    fn a_binding_request_gets_the_xor_mapped_address() {
        let from: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let answer = respond(&request([7; 12]), from).unwrap();
        assert_eq!(&answer[0..2], &BINDING_SUCCESS.to_be_bytes());
        assert_eq!(&answer[8..20], &[7; 12]);
        assert_eq!(&answer[20..22], &XOR_MAPPED_ADDRESS.to_be_bytes());
        let port = u16::from_be_bytes([answer[26], answer[27]]) ^ 0x2112;
        let ip =
            u32::from_be_bytes([answer[28], answer[29], answer[30], answer[31]]) ^ MAGIC_COOKIE;
        assert_eq!(port, 40000);
        assert_eq!(
            std::net::Ipv4Addr::from(ip),
            "192.0.2.7".parse::<std::net::Ipv4Addr>().unwrap()
        );
    }

    #[test]
    fn an_ipv6_address_is_xored_with_the_cookie_and_transaction() {
        let from: SocketAddr = "[2001:db8::1]:5000".parse().unwrap();
        let answer = respond(&request([9; 12]), from).unwrap();
        assert_eq!(answer[25], 0x02);
        let mut key = MAGIC_COOKIE.to_be_bytes().to_vec();
        key.extend_from_slice(&[9; 12]);
        let ip: Vec<u8> = answer[28..44]
            .iter()
            .zip(&key)
            .map(|(a, k)| a ^ k)
            .collect();
        let ip: [u8; 16] = ip.try_into().unwrap();
        assert_eq!(
            std::net::Ipv6Addr::from(ip),
            "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn anything_else_gets_no_answer() {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut wrong_cookie = request([1; 12]);
        wrong_cookie[4] = 0;
        let mut not_binding = request([1; 12]);
        not_binding[1] = 0x03;
        let mut bad_length = request([1; 12]);
        bad_length[3] = 4;
        for packet in [
            &b"hello"[..],
            &wrong_cookie,
            &not_binding,
            &bad_length,
            &[0u8; 600],
        ] {
            assert_eq!(respond(packet, from), None);
        }
    }
}
