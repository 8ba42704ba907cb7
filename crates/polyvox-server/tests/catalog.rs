//! Catalogue, health, OpenAPI and the embedded pages.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeSpeech, error_of, start};
use polyvox_server::ServerConfig;
use serde_json::{Value, json};

/// Every route the server has. The OpenAPI test checks both directions: each is documented, each
/// documented path is here, and each really answers.
const ROUTES: [(&str, &str); 12] = [
    ("post", "/v1/audio/speech"),
    ("get", "/v1/voices"),
    ("get", "/v1/languages"),
    ("get", "/v1/models"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/"),
    ("get", "/static/app.js"),
    ("get", "/static/style.css"),
    ("get", "/docs"),
    ("get", "/static/docs.js"),
    ("get", "/openapi.json"),
];

/// Routes that need a job backend.
/// Routes that need a job backend or API keys to answer 200; tests/jobs.rs and tests/tenancy.rs
/// exercise them with those.
const JOB_ROUTES: [(&str, &str); 6] = [
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("delete", "/v1/jobs/{id}"),
    ("get", "/v1/jobs/{id}/audio"),
    ("post", "/tts/generate"),
    ("get", "/v1/usage"),
];

async fn get_json(srv: &common::TestServer, path: &str) -> Value {
    let res = srv.client.get(srv.url(path)).send().await.expect("sent");
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.expect("JSON")
}

#[tokio::test]
async fn voices_mark_supported_languages() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let voices = get_json(&srv, "/v1/voices").await;
    assert_eq!(voices["object"], "list");
    let data = voices["data"].as_array().expect("data");
    assert_eq!(data.len(), polyvox_core::VOICES.len());
    let find = |id: &str| {
        data.iter()
            .find(|v| v["id"] == id)
            .unwrap_or_else(|| panic!("{id} listed"))
    };
    let alloy = find("af_alloy");
    assert_eq!(
        (
            alloy["name"].as_str(),
            alloy["language"].as_str(),
            alloy["gender"].as_str()
        ),
        (Some("Alloy"), Some("en-us"), Some("female"))
    );
    assert!(
        alloy["aliases"]
            .as_array()
            .expect("aliases")
            .contains(&json!("alloy"))
    );
    // The fake speaks en-us, en-gb and ja only.
    assert_eq!(find("bm_george")["supported"], true);
    assert_eq!(find("jf_alpha")["supported"], true);
    assert_eq!(find("ff_siwis")["supported"], false);
    assert_eq!(find("zm_yunxi")["gender"], "male");
}

#[tokio::test]
async fn languages_and_models() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let langs = get_json(&srv, "/v1/languages").await;
    let data = langs["data"].as_array().expect("data");
    assert_eq!(data.len(), polyvox_core::Lang::ALL.len());
    let find = |code: &str| {
        data.iter()
            .find(|l| l["code"] == code)
            .unwrap_or_else(|| panic!("{code} listed"))
    };
    assert_eq!(find("en-us")["supported"], true);
    assert_eq!(find("en-us")["voices"], 20);
    assert_eq!(find("fr")["supported"], false);
    assert_eq!(find("ko")["voices"], 0);
    assert_eq!(find("ko")["default_voice"], "jf_alpha");
    assert!(
        find("ko")["note"]
            .as_str()
            .is_some_and(|n| n.contains("accented")),
        "Korean is labelled as accented"
    );
    assert!(find("en-us").get("note").is_none());

    let models = get_json(&srv, "/v1/models").await;
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids.first(), Some(&"kokoro-82m-fake"));
    for alias in polyvox_server::MODEL_ALIASES {
        assert!(ids.contains(&alias), "{alias} listed");
    }
    assert!(
        models["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|m| m["object"] == "model")
    );
}

#[tokio::test]
async fn health_live_and_ready() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    assert_eq!(get_json(&srv, "/health/live").await["status"], "ok");
    assert_eq!(get_json(&srv, "/health/ready").await["ready"], true);

    srv.fake.ready.store(false, Ordering::SeqCst);
    let res = srv
        .client
        .get(srv.url("/health/ready"))
        .header("x-request-id", "probe-1")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["ready"], false);
    assert_eq!(body["error"]["code"], "model_unavailable");
    assert_eq!(body["error"]["request_id"], "probe-1");
    // Liveness has no dependencies: still fine while not ready.
    assert_eq!(get_json(&srv, "/health/live").await["status"], "ok");
}

#[tokio::test]
async fn openapi_documents_every_route_and_only_real_ones() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let doc = get_json(&srv, "/openapi.json").await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in ROUTES {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from /openapi.json"
        );
        let res = match method {
            "post" => srv.speech(json!({"input": "Hi"})).await,
            _ => srv.client.get(srv.url(path)).send().await.expect("sent"),
        };
        assert_eq!(
            res.status(),
            200,
            "{method} {path} documented but does not answer"
        );
    }
    let documented: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |o| o.len()))
        .sum();
    // Job routes answer 503 without a job backend; tests/jobs.rs exercises them with one.
    for (method, path) in JOB_ROUTES {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from /openapi.json"
        );
    }
    assert_eq!(
        documented,
        ROUTES.len() + JOB_ROUTES.len(),
        "a documented operation is not in the route list"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    assert!(schemas.contains_key("SpeechRequest") && schemas.contains_key("ErrorBody"));
    let required = schemas["SpeechRequest"]["required"]
        .as_array()
        .expect("required");
    assert_eq!(required, &vec![json!("input")]);
}

#[tokio::test]
async fn pages_are_self_contained_with_security_headers() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    for (page, ids) in [
        (
            "/",
            &[
                "text", "lang", "voice", "speak", "audio", "download", "error",
            ][..],
        ),
        ("/docs", &["ops", "error"][..]),
    ] {
        let res = srv.client.get(srv.url(page)).send().await.expect("sent");
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        assert!(
            h["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        let csp = h["content-security-policy"].to_str().expect("ascii");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(
            !csp.contains("http") && !csp.contains("unsafe-inline"),
            "CSP allows external or inline code: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let html = res.text().await.expect("html");
        for id in ids {
            assert!(html.contains(&format!("id=\"{id}\"")), "{page} lacks #{id}");
        }
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("<script>"),
            "{page} must not load external or inline code"
        );
        // Every referenced local asset is served.
        for attr in ["src=\"", "href=\""] {
            for part in html.split(attr).skip(1) {
                let target = part.split('"').next().unwrap_or("");
                if target.starts_with('/') {
                    let res = srv.client.get(srv.url(target)).send().await.expect("sent");
                    assert_eq!(res.status(), 200, "{page} references {target}");
                }
            }
        }
    }
}

#[tokio::test]
async fn cors_is_off_by_default_and_follows_configured_origins() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let res = srv
        .client
        .get(srv.url("/v1/voices"))
        .header("origin", "https://app.example")
        .send()
        .await
        .expect("sent");
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let cfg = ServerConfig {
        cors_origins: vec!["https://app.example".into()],
        ..ServerConfig::default()
    };
    let srv = start(cfg, FakeSpeech::new(1, Duration::ZERO)).await;
    let preflight = srv
        .client
        .request(reqwest::Method::OPTIONS, srv.url("/v1/audio/speech"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("sent");
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = srv
        .client
        .get(srv.url("/v1/voices"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("sent");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_request_id_is_on_successful_and_streamed_responses_too() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(2, Duration::ZERO)).await;
    let res = srv
        .client
        .post(srv.url("/v1/audio/speech"))
        .header("x-request-id", "stream-7")
        .json(&json!({"input": "Hi"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "stream-7");
    let (status, code, _) = error_of(
        srv.client
            .get(srv.url("/v1/nope"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn run_returns_after_the_shutdown_token_is_cancelled() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let url = srv.url("/health/live");
    assert_eq!(
        srv.client.get(&url).send().await.expect("sent").status(),
        200
    );
    let client = srv.client.clone();
    srv.stop().await.expect("clean shutdown");
    assert!(
        client.get(&url).send().await.is_err(),
        "no longer accepting connections"
    );
}
