use super::*;

#[test]
fn requests_are_classified() {
    let cases: &[(&[u8], Request)] = &[
        (
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            Request::Metrics { head: false },
        ),
        (
            b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n",
            Request::Metrics { head: false },
        ),
        (
            b"HEAD /metrics HTTP/1.1\n\n",
            Request::Metrics { head: true },
        ),
        (b"POST /metrics HTTP/1.1\r\n\r\n", Request::MethodNotAllowed),
        (b"GET / HTTP/1.1\r\n\r\n", Request::NotFound),
        (b"GET /metricsx HTTP/1.1\r\n\r\n", Request::NotFound),
        (b"GET /metrics HTTP/2.0\r\n\r\n", Request::Bad),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Request::Bad),
        (b"GET /metrics\r\n\r\n", Request::Bad),
        (b"GET  /metrics HTTP/1.1\r\n\r\n", Request::Bad),
        (b"get /metrics HTTP/1.1\r\n\r\n", Request::Bad),
        (b"GET http://x/metrics HTTP/1.1\r\n\r\n", Request::Bad),
        (b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", Request::Bad),
        (b"\x16\x03\x01\x00\x05hello", Request::Bad),
        (b"", Request::Bad),
        (b"\r\n\r\n", Request::Bad),
    ];
    for (head, want) in cases {
        assert_eq!(
            &parse_request(head),
            want,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn an_oversized_head_is_refused_whatever_it_holds() {
    let mut head = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    head.resize(MAX_REQUEST_BYTES + 1, b'a');
    assert_eq!(parse_request(&head), Request::TooLarge);
    head.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_request(&head), Request::TooLarge);
}

#[test]
fn parsing_never_panics_on_prefixes_and_mutations() {
    let good = b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
    for n in 0..=good.len() {
        let _ = parse_request(&good[..n]);
        for b in [0u8, b' ', b'\n', b'\r', b'?', 0xff] {
            let mut m = good.to_vec();
            if n < m.len() {
                m[n] = b;
            }
            let _ = parse_request(&m);
        }
    }
}

#[test]
fn responses_are_complete_http() {
    let ok = respond(Request::Metrics { head: false }, || "x 1\n".to_owned());
    assert_eq!(
        String::from_utf8(ok).unwrap(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\nx 1\n"
    );
    let head = respond(Request::Metrics { head: true }, || "x 1\n".to_owned());
    assert!(
        String::from_utf8(head)
            .unwrap()
            .ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n")
    );
    let not_allowed = String::from_utf8(respond(Request::MethodNotAllowed, String::new)).unwrap();
    assert!(not_allowed.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(not_allowed.contains("\r\nAllow: GET, HEAD\r\n"));
    let rendered = std::cell::Cell::new(false);
    let _ = respond(Request::NotFound, || {
        rendered.set(true);
        String::new()
    });
    assert!(!rendered.get(), "a 404 must not render the metrics");
}
