//! The native server's connection hygiene: a client that trickles its request head, or keeps a
//! connection open without sending one, is cut off after the head timeout, and the server goes
//! on answering others.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use alleato_contract_tests::{Api, Capability, Fetch};

/// A generous bound on "after the head timeout" (1 s here).
const CUT_OFF_WITHIN: Duration = Duration::from_secs(20);

/// Reads until the server closes the connection, writing `trickle` (when given) between reads;
/// returns whether it closed within [`CUT_OFF_WITHIN`].
fn closed_by_server(stream: &mut TcpStream, trickle: Option<&[u8]>) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("a read timeout");
    let deadline = Instant::now() + CUT_OFF_WITHIN;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // A `408` or other answer before the close is fine: keep reading to the end.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
        if let Some(bytes) = trickle
            && stream.write_all(bytes).is_err()
        {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn a_trickled_request_head_is_cut_off_after_the_head_timeout() {
    let api = Api::shared();
    let test = "a_trickled_request_head_is_cut_off_after_the_head_timeout";
    if !api.supports(Capability::ConnectionTimeouts, test) {
        return;
    }
    let Some(server) = api.own_server(test, &[("ALLEATO_HEAD_TIMEOUT_SECS", "1")]) else {
        return;
    };
    let addr = server.addr();
    let slow = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("a connection");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .expect("the start of a head");
        closed_by_server(&mut stream, Some(b"X-Slow: a\r\n"))
    });
    assert!(
        slow.await.expect("the slow client"),
        "a trickled head was never cut off"
    );
    // Everyone else is served as before.
    server.api().get("/health").fetch().await.expect(200);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_head_timeout() {
    let api = Api::shared();
    let test = "a_connection_that_sends_nothing_is_closed_after_the_head_timeout";
    if !api.supports(Capability::ConnectionTimeouts, test) {
        return;
    }
    let Some(server) = api.own_server(test, &[("ALLEATO_HEAD_TIMEOUT_SECS", "1")]) else {
        return;
    };
    let addr = server.addr();
    let idle = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("a connection");
        closed_by_server(&mut stream, None)
    });
    assert!(
        idle.await.expect("the idle client"),
        "an idle connection was never closed"
    );
    server.api().get("/health").fetch().await.expect(200);
}

#[tokio::test]
async fn connections_past_the_per_address_cap_are_shed() {
    let api = Api::shared();
    let test = "connections_past_the_per_address_cap_are_shed";
    if !api.supports(Capability::ConnectionTimeouts, test) {
        return;
    }
    let Some(server) = api.own_server(test, &[("ALLEATO_MAX_CONNECTIONS_PER_ADDRESS", "2")]) else {
        return;
    };
    let addr = server.addr();
    let shed = tokio::task::spawn_blocking(move || {
        let held: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(addr).expect("a connection"))
            .collect();
        let mut third = TcpStream::connect(addr).expect("the kernel accepts it");
        let _ = third.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let closed = closed_by_server(&mut third, None);
        drop(held);
        closed
    });
    assert!(
        shed.await.expect("the third client"),
        "a connection past the cap was served"
    );
    // Once the others have gone, the address is served again.
    let deadline = Instant::now() + CUT_OFF_WITHIN;
    loop {
        let resp = server.api().get("/health").send().await;
        if resp.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the address was never served again: {resp:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
