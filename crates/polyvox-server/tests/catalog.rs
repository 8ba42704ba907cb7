//! Catalogue, health, OpenAPI and the embedded pages.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeSpeech, error_of, start};
use polyvox_server::ServerConfig;
use serde_json::{Value, json};

/// Every route the server has. The OpenAPI test checks both directions: each is documented, each
/// documented path is here, and each really answers. All but speech are public.
const ROUTES: [(&str, &str); 11] = [
    ("post", "/v1/audio/speech"),
    ("get", "/v1/voices"),
    ("get", "/v1/voices/{voice}/preview"),
    ("get", "/v1/languages"),
    ("get", "/v1/models"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/"),
    ("get", "/static/{asset}"),
    ("get", "/docs"),
    ("get", "/openapi.json"),
];

/// A real path for a documented path template.
fn concrete(path: &str) -> String {
    path.replace("{voice}", "af_bella")
        .replace("{asset}", "app.js")
}

/// Routes that need a job backend, API keys, a WebSocket upgrade or a lexicon store to answer;
/// tests/jobs.rs, tests/tenancy.rs, tests/live.rs and tests/lexicons.rs exercise them with those.
const JOB_ROUTES: [(&str, &str); 13] = [
    ("get", "/v1/audio/speech/stream"),
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("delete", "/v1/jobs/{id}"),
    ("get", "/v1/jobs/{id}/audio"),
    ("get", "/v1/jobs/{id}/timestamps"),
    ("get", "/v1/jobs/{id}/captions"),
    ("post", "/tts/generate"),
    ("get", "/v1/usage"),
    ("get", "/v1/lexicons"),
    ("put", "/v1/lexicons/{name}"),
    ("get", "/v1/lexicons/{name}"),
    ("delete", "/v1/lexicons/{name}"),
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
    // The original service's catalogue (POST /tts/generate's voice_id) is findable by voice.
    for (legacy, id) in [("1", "af_sky"), ("3", "af_bella"), ("5", "jf_alpha")] {
        assert_eq!(find(id)["legacy_voice_id"], legacy, "{id}");
    }
    assert_eq!(find("jf_alpha")["name"], "Misaki");
    assert!(find("af_heart").get("legacy_voice_id").is_none());
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
        let op = paths
            .get(path)
            .and_then(|p| p.get(method))
            .unwrap_or_else(|| panic!("{method} {path} missing from /openapi.json"));
        // Public routes override the document's bearer requirement with an empty one, which the
        // docs page reads to show which examples need a key.
        let public = op["security"] == json!([{}]);
        assert_eq!(
            public,
            method == "get",
            "{method} {path}: security {}",
            op["security"]
        );
        let res = match method {
            "post" => srv.speech(json!({"input": "Hi"})).await,
            _ => srv
                .client
                .get(srv.url(&concrete(path)))
                .send()
                .await
                .expect("sent"),
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
    // Job and lexicon routes answer 503 without their backend; tests/jobs.rs and
    // tests/lexicons.rs exercise them with one.
    for (method, path) in JOB_ROUTES {
        let op = paths
            .get(path)
            .and_then(|p| p.get(method))
            .unwrap_or_else(|| panic!("{method} {path} missing from /openapi.json"));
        assert!(
            op.get("security").is_none(),
            "{method} {path} must need a key"
        );
    }
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    // Word timestamps: the request field, the JSON answer and the unit of the offsets.
    let speech = &paths["/v1/audio/speech"]["post"];
    let body_schema = &doc["components"]["schemas"]["SpeechRequest"]["properties"];
    assert!(body_schema["timestamps"].is_object(), "{speech}");
    assert!(body_schema["lexicons"].is_object(), "{speech}");
    let word = &doc["components"]["schemas"]["WordTimestamp"]["properties"];
    assert!(
        word["char_start"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Unicode scalar values")),
        "{word}"
    );
    assert!(
        speech["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("SpeechWithTimestamps")),
        "{speech}"
    );
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
                "text",
                "file",
                "lang",
                "voice",
                "speak",
                "cancel",
                "progress",
                "status",
                "audio",
                "download",
                "error",
                "voice-search",
                "filter-lang",
                "filter-gender",
                "gallery",
                "preview-audio",
                "blend-list",
                "blend-spec",
                "history-list",
                "apikey",
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
        // Every referenced local asset is served, and so is every module the scripts import.
        let mut todo: Vec<String> = ["src=\"", "href=\""]
            .iter()
            .flat_map(|attr| html.split(attr).skip(1))
            .filter_map(|part| part.split('"').next())
            .filter(|t| t.starts_with('/') && !t.starts_with("/#"))
            .map(str::to_string)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(target) = todo.pop() {
            if !seen.insert(target.clone()) {
                continue;
            }
            let res = srv.client.get(srv.url(&target)).send().await.expect("sent");
            assert_eq!(res.status(), 200, "{page} references {target}");
            if target.ends_with(".js") {
                let js = res.text().await.expect("script");
                assert!(
                    !js.contains("http://") && !js.contains("https://"),
                    "{target} names an external URL"
                );
                for part in js.split(" from './").skip(1) {
                    let module = part.split('\'').next().unwrap_or("");
                    todo.push(format!("/static/{module}"));
                }
            }
        }
        assert!(
            page != "/" || seen.contains("/static/compose.js"),
            "the studio's modules were not followed: {seen:?}"
        );
    }
    // Unknown assets are 404s with the usual error body.
    let (status, code, _) = error_of(
        srv.client
            .get(srv.url("/static/nope.js"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn the_page_knows_whether_the_server_wants_a_key() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let html = srv
        .client
        .get(srv.url("/"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains(r#"<meta name="polyvox-auth" content="off">"#),
        "a server without keys says so"
    );
    assert!(!html.contains("@AUTH@"));
}

#[tokio::test]
async fn a_voice_preview_is_made_once_and_then_served_from_memory() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(3, Duration::ZERO)).await;
    let res = srv
        .client
        .get(srv.url("/v1/voices/af_bella/preview"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "audio/mpeg");
    assert_eq!(res.headers()["cache-control"], "public, max-age=86400");
    assert_eq!(res.bytes().await.expect("body"), srv.fake.expected_body());
    let (req, opts) = srv
        .fake
        .stats
        .last_request
        .lock()
        .expect("lock")
        .clone()
        .expect("a request");
    assert_eq!(req.voice.canonical(), "af_bella");
    assert_eq!(req.lang.code(), "en-us");
    assert_eq!(req.format.as_str(), "mp3");
    assert!(req.text.contains("Bella"), "{}", req.text);
    assert!(opts.whole_file);
    // Again, by display name and by OpenAI alias: the same voice, no new synthesis.
    for path in [
        "/v1/voices/af_bella/preview",
        "/v1/voices/Bella/preview",
        "/v1/voices/shimmer/preview",
    ] {
        let res = srv.client.get(srv.url(path)).send().await.expect("sent");
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.bytes().await.expect("body"), srv.fake.expected_body());
    }
    assert_eq!(srv.fake.stats.started.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_first_previews_share_one_synthesis() {
    let srv = start(
        ServerConfig::default(),
        FakeSpeech::new(2, Duration::ZERO).gated(),
    )
    .await;
    let calls = (0..8).map(|_| {
        let (client, url) = (srv.client.clone(), srv.url("/v1/voices/bm_george/preview"));
        tokio::spawn(async move { client.get(url).send().await.expect("sent").status() })
    });
    let calls: Vec<_> = calls.collect();
    // All eight are waiting on the one gated synthesis before it may finish.
    for _ in 0..200 {
        if srv.fake.stats.started.load(Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    srv.fake.release();
    for c in calls {
        assert_eq!(c.await.expect("task"), 200);
    }
    assert_eq!(srv.fake.stats.started.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn previews_of_unknown_or_unspoken_voices_are_refused_without_synthesis() {
    let srv = start(ServerConfig::default(), FakeSpeech::new(1, Duration::ZERO)).await;
    let get = |path: &'static str| srv.client.get(srv.url(path)).send();
    let (status, code, msg) = error_of(get("/v1/voices/nobody/preview").await.expect("sent")).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(
        msg.contains("'nobody'") && msg.contains("/v1/voices"),
        "{msg}"
    );
    // The fake speaks English and Japanese only.
    let (status, code, msg) =
        error_of(get("/v1/voices/ff_siwis/preview").await.expect("sent")).await;
    assert_eq!((status, code.as_str()), (400, "unsupported_language"));
    assert!(msg.contains("ff_siwis") && msg.contains("fr"), "{msg}");
    assert_eq!(srv.fake.stats.started.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_failed_preview_is_not_kept_and_a_full_server_sheds_previews() {
    let failing = FakeSpeech::new(1, Duration::ZERO).with_mode(common::Mode::FailAtStart(
        polyvox_core::Error::new(
            polyvox_core::ErrorCode::ModelUnavailable,
            "model not loaded",
        ),
    ));
    let srv = start(ServerConfig::default(), failing).await;
    for _ in 0..2 {
        let res = srv
            .client
            .get(srv.url("/v1/voices/af_sky/preview"))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 503);
    }
    // Both tried: a failure is not cached.
    assert_eq!(srv.fake.stats.started.load(Ordering::SeqCst), 2);

    let cfg = ServerConfig {
        max_concurrent: 1,
        max_queued: 0,
        ..ServerConfig::default()
    };
    let srv = start(cfg, FakeSpeech::new(1, Duration::ZERO).gated()).await;
    let holder = {
        let (client, url) = (srv.client.clone(), srv.url("/v1/voices/am_adam/preview"));
        tokio::spawn(async move { client.get(url).send().await.expect("sent").status() })
    };
    for _ in 0..200 {
        if srv.fake.stats.started.load(Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, code, _) = error_of(
        srv.client
            .get(srv.url("/v1/voices/am_michael/preview"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, code.as_str()), (429, "queue_full"));
    srv.fake.release();
    assert_eq!(holder.await.expect("task"), 200);
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
