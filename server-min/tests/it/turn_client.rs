//! Just enough of a TURN client (RFC 8656 over RFC 8489 STUN) to ask a real TURN server for an
//! allocation with the long-term credential mechanism, over UDP or TCP, and read its answer.
//!
//! Allocate without credentials → 401 with REALM and NONCE → Allocate again with USERNAME,
//! REALM, NONCE and MESSAGE-INTEGRITY (HMAC-SHA1 keyed with MD5(username:realm:password)).
//! The server decides; this client only reports the success (the relayed address) or the
//! error code.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hmac::{Hmac, Mac as _};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};

use crate::support::within;

const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;

const BINDING: u16 = 0x0001;
const ALLOCATE: u16 = 0x0003;
const CREATE_PERMISSION: u16 = 0x0008;
/// Class bits of a message type: success and error responses.
const SUCCESS: u16 = 0x0100;
const ERROR: u16 = 0x0110;

const USERNAME: u16 = 0x0006;
const MESSAGE_INTEGRITY: u16 = 0x0008;
const ERROR_CODE: u16 = 0x0009;
const XOR_PEER_ADDRESS: u16 = 0x0012;
const REALM: u16 = 0x0014;
const NONCE: u16 = 0x0015;
const XOR_RELAYED_ADDRESS: u16 = 0x0016;
const REQUESTED_TRANSPORT: u16 = 0x0019;
/// IANA protocol number of UDP, the relayed transport asked for.
const UDP: u8 = 17;

/// Which transport carries the client's messages to the TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

/// One client connection to a TURN server.
pub(crate) struct TurnClient {
    conn: Conn,
    next_transaction: u8,
    /// Set after a successful authenticated Allocate: later requests sign with them.
    auth: Option<Auth>,
}

#[derive(Clone)]
struct Auth {
    username: String,
    realm: String,
    nonce: Vec<u8>,
    key: [u8; 16],
}

/// A response: its type and attributes.
struct Response {
    kind: u16,
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Response {
    fn attr(&self, kind: u16) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_slice())
    }

    fn error_code(&self) -> Option<u16> {
        self.attr(ERROR_CODE)
            .filter(|v| v.len() >= 4)
            .map(|v| u16::from(v[2] & 0x07) * 100 + u16::from(v[3]))
    }
}

impl TurnClient {
    /// Connects to `server` over `transport` (bounded).
    pub(crate) async fn connect(server: SocketAddr, transport: Transport) -> std::io::Result<Self> {
        let conn = match transport {
            Transport::Udp => {
                let socket = UdpSocket::bind("127.0.0.1:0").await?;
                socket.connect(server).await?;
                Conn::Udp(socket)
            }
            Transport::Tcp => Conn::Tcp(within("TCP connect", TcpStream::connect(server)).await?),
        };
        Ok(Self {
            conn,
            next_transaction: 0,
            auth: None,
        })
    }

    /// A Binding request answered within `wait` (used to see that the server is up).
    pub(crate) async fn binding(&mut self, wait: std::time::Duration) -> bool {
        let msg = self.message(BINDING, &[]);
        tokio::time::timeout(wait, self.exchange(&msg))
            .await
            .is_ok_and(|r| r.is_ok_and(|r| r.kind == BINDING | SUCCESS))
    }

    /// Asks for a UDP relay with these credentials: the relayed address, or the error code.
    pub(crate) async fn allocate(
        &mut self,
        username: &str,
        password: &str,
    ) -> Result<SocketAddr, u16> {
        let transport = [UDP, 0, 0, 0];
        let challenge = self
            .request(ALLOCATE, &[(REQUESTED_TRANSPORT, &transport)])
            .await;
        if challenge.error_code() != Some(401) {
            panic!(
                "an unauthenticated Allocate must be challenged with 401, got {:#06x} {:?}",
                challenge.kind,
                challenge.error_code()
            );
        }
        let realm = String::from_utf8(challenge.attr(REALM).expect("REALM").to_vec()).unwrap();
        let nonce = challenge.attr(NONCE).expect("NONCE").to_vec();
        let key: [u8; 16] = Md5::digest(format!("{username}:{realm}:{password}")).into();
        self.auth = Some(Auth {
            username: username.to_owned(),
            realm,
            nonce,
            key,
        });
        let answer = self
            .request(ALLOCATE, &[(REQUESTED_TRANSPORT, &transport)])
            .await;
        if answer.kind == ALLOCATE | SUCCESS {
            let relayed = answer
                .attr(XOR_RELAYED_ADDRESS)
                .and_then(xor_address)
                .expect("XOR-RELAYED-ADDRESS in the Allocate success");
            Ok(relayed)
        } else {
            self.auth = None;
            Err(answer.error_code().expect("ERROR-CODE in the error"))
        }
    }

    /// Asks the allocation to admit `peer`: `Ok` or the error code (403: a forbidden peer).
    pub(crate) async fn create_permission(&mut self, peer: IpAddr) -> Result<(), u16> {
        let peer = encode_xor_address(SocketAddr::new(peer, 9));
        let answer = self
            .request(CREATE_PERMISSION, &[(XOR_PEER_ADDRESS, &peer)])
            .await;
        if answer.kind == CREATE_PERMISSION | SUCCESS {
            Ok(())
        } else {
            Err(answer.error_code().expect("ERROR-CODE in the error"))
        }
    }

    /// Sends a request (signed when credentials are set) and reads its response.
    async fn request(&mut self, method: u16, attrs: &[(u16, &[u8])]) -> Response {
        let msg = self.message(method, attrs);
        let response = within("TURN response", self.exchange(&msg))
            .await
            .expect("the TURN server answers");
        assert!(
            response.kind == method | SUCCESS || response.kind == method | ERROR,
            "unexpected response type {:#06x} to {method:#06x}",
            response.kind
        );
        response
    }

    fn message(&mut self, method: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        self.next_transaction = self.next_transaction.wrapping_add(1);
        let mut msg = Vec::new();
        msg.extend_from_slice(&method.to_be_bytes());
        msg.extend_from_slice(&[0, 0]);
        msg.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        msg.extend_from_slice(&[0xA5; 11]);
        msg.push(self.next_transaction);
        for (kind, value) in attrs {
            put_attr(&mut msg, *kind, value);
        }
        if let Some(auth) = self.auth.clone() {
            put_attr(&mut msg, USERNAME, auth.username.as_bytes());
            put_attr(&mut msg, REALM, auth.realm.as_bytes());
            put_attr(&mut msg, NONCE, &auth.nonce);
            // The length counts MESSAGE-INTEGRITY (4 + 20 bytes) before it is computed.
            set_len(&mut msg, 24);
            let mut mac = Hmac::<Sha1>::new_from_slice(&auth.key).expect("any key length");
            mac.update(&msg);
            put_attr(&mut msg, MESSAGE_INTEGRITY, &mac.finalize().into_bytes());
        }
        set_len(&mut msg, 0);
        msg
    }

    async fn exchange(&mut self, msg: &[u8]) -> std::io::Result<Response> {
        let transaction = msg[8..HEADER_LEN].to_vec();
        match &mut self.conn {
            Conn::Udp(socket) => {
                socket.send(msg).await?;
                let mut buf = vec![0u8; 2048];
                loop {
                    let n = socket.recv(&mut buf).await?;
                    if let Some(r) = parse(&buf[..n], &transaction) {
                        return Ok(r);
                    }
                }
            }
            Conn::Tcp(stream) => {
                stream.write_all(msg).await?;
                loop {
                    let mut header = [0u8; HEADER_LEN];
                    stream.read_exact(&mut header).await?;
                    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
                    let mut whole = header.to_vec();
                    whole.resize(HEADER_LEN + len, 0);
                    stream.read_exact(&mut whole[HEADER_LEN..]).await?;
                    if let Some(r) = parse(&whole, &transaction) {
                        return Ok(r);
                    }
                }
            }
        }
    }
}

fn put_attr(msg: &mut Vec<u8>, kind: u16, value: &[u8]) {
    msg.extend_from_slice(&kind.to_be_bytes());
    msg.extend_from_slice(&(value.len() as u16).to_be_bytes());
    msg.extend_from_slice(value);
    msg.resize(msg.len().next_multiple_of(4), 0);
}

/// Sets the header's length to what follows the header, plus `extra` bytes still to come.
fn set_len(msg: &mut [u8], extra: usize) {
    let len = (msg.len() - HEADER_LEN + extra) as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
}

/// A STUN response for `transaction`, or `None` for anything else.
fn parse(packet: &[u8], transaction: &[u8]) -> Option<Response> {
    if packet.len() < HEADER_LEN
        || packet[4..8] != MAGIC_COOKIE.to_be_bytes()
        || packet[8..HEADER_LEN] != *transaction
    {
        return None;
    }
    let kind = u16::from_be_bytes([packet[0], packet[1]]);
    let mut attrs = Vec::new();
    let mut rest = &packet[HEADER_LEN..];
    while rest.len() >= 4 {
        let attr = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + len)?.to_vec();
        attrs.push((attr, value));
        rest = rest
            .get((4 + len).next_multiple_of(4)..)
            .unwrap_or_default();
    }
    Some(Response { kind, attrs })
}

/// An IPv4 XOR-*-ADDRESS value.
fn xor_address(value: &[u8]) -> Option<SocketAddr> {
    if value.len() < 8 || value[1] != 0x01 {
        return None;
    }
    let port = u16::from_be_bytes([value[2], value[3]]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = u32::from_be_bytes([value[4], value[5], value[6], value[7]]) ^ MAGIC_COOKIE;
    Some(SocketAddr::new(Ipv4Addr::from(ip).into(), port))
}

fn encode_xor_address(addr: SocketAddr) -> Vec<u8> {
    let IpAddr::V4(ip) = addr.ip() else {
        panic!("IPv4 peers only");
    };
    let mut value = vec![0, 0x01];
    value.extend_from_slice(&(addr.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes());
    value.extend_from_slice(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
    value
}
