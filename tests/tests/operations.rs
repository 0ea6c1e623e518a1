//! Operating the server: its start-up checks of the configuration, and whose address a rate
//! limit counts when proxies stand in front of it.

use alleato_contract_tests::{Api, BinaryRun, Capability, Fetch, assert_problem};

/// Asserts that the binary refused to start: status 2, one line naming `setting`, and nothing
/// created in its data directory.
#[track_caller]
fn assert_refused(run: &BinaryRun, setting: &str) {
    assert_eq!(run.code, Some(2), "expected exit status 2: {run:?}");
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr: {run:?}");
    assert!(
        lines[0].contains(setting),
        "the message does not name {setting}: {run:?}"
    );
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    assert!(
        !run.wrote_data,
        "the data directory was created before the check: {run:?}"
    );
}

#[tokio::test]
async fn a_bad_setting_stops_the_server_before_it_creates_anything() {
    let api = Api::shared();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("ALLEATO_LOG", "info,[[[")], "ALLEATO_LOG"),
        (&[("ALLEATO_CORS_ORIGINS", "not an origin")], "ALLEATO_CORS_ORIGINS"),
        (
            &[("ALLEATO_CORS_ORIGINS", "*,https://app.example.com")],
            "ALLEATO_CORS_ORIGINS",
        ),
        (&[("ALLEATO_JWT_SECRET", "short")], "ALLEATO_JWT_SECRET"),
        (&[("ALLEATO_TRUSTED_PROXIES", "10.0.0.0/99")], "ALLEATO_TRUSTED_PROXIES"),
        (&[("ALLEATO_OPENAI_MODELS", "gpt-4o")], "ALLEATO_OPENAI"),
        (&[("ALLEATO_DEFAULT_MODEL", "nope")], "ALLEATO_DEFAULT_MODEL"),
    ];
    for (env, setting) in cases {
        let Some(run) = api.run_binary("a_bad_setting_stops_the_server_before_it_creates_anything", env) else {
            return;
        };
        assert_refused(&run, setting);
    }
}

#[tokio::test]
async fn an_unreadable_number_is_refused_with_status_2() {
    let api = Api::shared();
    let Some(run) = api.run_binary(
        "an_unreadable_number_is_refused_with_status_2",
        &[("ALLEATO_RATE_LIMIT_PER_MINUTE", "many")],
    ) else {
        return;
    };
    assert_refused(&run, "ALLEATO_RATE_LIMIT_PER_MINUTE");
    assert!(run.stderr.contains("many"), "{run:?}");
}

#[tokio::test]
async fn an_address_in_use_is_named() {
    let api = Api::shared();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let Some(run) = api.run_binary("an_address_in_use_is_named", &[("ALLEATO_LISTEN", &addr)]) else {
        return;
    };
    assert_refused(&run, "ALLEATO_LISTEN");
    assert!(run.stderr.contains(&addr), "the message does not name {addr}: {run:?}");
}

#[tokio::test]
async fn a_wildcard_cors_origin_allows_any_origin_without_credentials() {
    let api = Api::shared();
    if !api.supports(
        Capability::NativeProcess,
        "a_wildcard_cors_origin_allows_any_origin_without_credentials",
    ) {
        return;
    }
    let Some(server) = api.own_server(
        "a_wildcard_cors_origin_allows_any_origin_without_credentials",
        &[("ALLEATO_CORS_ORIGINS", "*")],
    ) else {
        return;
    };
    let api = server.api();
    let resp = api
        .get("/health")
        .header("origin", "https://anywhere.example.net")
        .fetch()
        .await;
    resp.expect(200);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"), "{resp:?}");
    assert_eq!(resp.header("access-control-allow-credentials"), None, "{resp:?}");
}

// --- rate limits and client addresses ---

async fn status_of(api: &Api, headers: &[(&str, &str)]) -> u16 {
    let mut req = api.get("/api/v1/public/models");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.fetch().await.status.as_u16()
}

#[tokio::test]
async fn a_rate_limit_of_zero_is_no_limit() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "a_rate_limit_of_zero_is_no_limit",
        &[("ALLEATO_RATE_LIMIT_PER_MINUTE", "0")],
    ) else {
        return;
    };
    let api = server.api();
    for _ in 0..5 {
        assert_eq!(status_of(&api, &[]).await, 200);
    }
}

#[tokio::test]
async fn forwarding_headers_are_ignored_without_a_trusted_proxy() {
    let api = Api::shared();
    let Some(server) = api.own_server(
        "forwarding_headers_are_ignored_without_a_trusted_proxy",
        &[("ALLEATO_RATE_LIMIT_PER_MINUTE", "2")],
    ) else {
        return;
    };
    let api = server.api();
    for (i, ip) in ["203.0.113.1", "203.0.113.2"].into_iter().enumerate() {
        let headers = [("x-forwarded-for", ip), ("x-real-ip", ip)];
        assert_eq!(status_of(&api, &headers).await, 200, "request {i}");
    }
    // A third "client" is the same socket: limited.
    let resp = api
        .get("/api/v1/public/models")
        .header("x-forwarded-for", "203.0.113.3")
        .fetch()
        .await;
    assert_problem(&resp, 429, "rate_limited");
    assert!(resp.header("retry-after").is_some(), "{resp:?}");
}

#[tokio::test]
async fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
    let api = Api::shared();
    let test = "behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client";
    if !api.supports(Capability::NativeProcess, test) {
        return;
    }
    let Some(server) = api.own_server(
        test,
        &[
            ("ALLEATO_RATE_LIMIT_PER_MINUTE", "2"),
            ("ALLEATO_TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8"),
        ],
    ) else {
        return;
    };
    let api = server.api();
    // The client wrote a spoofed first hop; the proxies appended the real one and themselves.
    let alice = [("x-forwarded-for", "198.51.100.77, 203.0.113.10, 10.1.2.3")];
    assert_eq!(status_of(&api, &alice).await, 200);
    assert_eq!(status_of(&api, &alice).await, 200);
    assert_eq!(status_of(&api, &alice).await, 429, "alice is over her limit");
    // Changing the spoofed hop changes nothing.
    let spoofed = [("x-forwarded-for", "192.0.2.1, 203.0.113.10, 10.1.2.3")];
    assert_eq!(status_of(&api, &spoofed).await, 429);
    // Another client behind the same proxy has a limit of its own.
    let bob = [("x-forwarded-for", "203.0.113.20")];
    assert_eq!(status_of(&api, &bob).await, 200);
}

#[tokio::test]
async fn behind_cloudflare_the_client_is_cf_connecting_ip() {
    let api = Api::shared();
    let test = "behind_cloudflare_the_client_is_cf_connecting_ip";
    if !api.supports(Capability::NativeProcess, test) {
        return;
    }
    let Some(server) = api.own_server(
        test,
        &[
            ("ALLEATO_RATE_LIMIT_PER_MINUTE", "1"),
            ("ALLEATO_BEHIND_CLOUDFLARE", "true"),
        ],
    ) else {
        return;
    };
    let api = server.api();
    assert_eq!(status_of(&api, &[("cf-connecting-ip", "203.0.113.30")]).await, 200);
    assert_eq!(status_of(&api, &[("cf-connecting-ip", "203.0.113.30")]).await, 429);
    assert_eq!(status_of(&api, &[("cf-connecting-ip", "203.0.113.31")]).await, 200);
}
