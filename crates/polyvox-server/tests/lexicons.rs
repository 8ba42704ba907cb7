//! Pronunciation lexicons through the API, on the embedded twins (SQLite lexicons and keys,
//! in-process queue, a worker rendering through the fake): CRUD and versions, PLS uploads,
//! ownership between keys, every limit and bad input with its code, the entries travelling inside
//! speech and job requests, and the result cache never answering with audio made before an entry
//! changed.

mod common;

use std::time::Duration;

use common::embedded::Embedded;
use common::{FakeSpeech, error_of};
use polyvox_core::lexicon::Reading;
use polyvox_infra::tenancy::{KeyLimits, KeyStore};
use polyvox_server::TenancyConfig;
use serde_json::{Value, json};

async fn open() -> Embedded {
    Embedded::builder(FakeSpeech::new(2, Duration::ZERO))
        .start()
        .await
}

async fn keyed() -> Embedded {
    Embedded::builder(FakeSpeech::new(2, Duration::ZERO))
        .tenancy(TenancyConfig {
            key_cache_ttl: Duration::ZERO,
            ..TenancyConfig::default()
        })
        .start()
        .await
}

impl Embedded {
    fn with(&self, req: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn put_lex(&self, name: &str, body: Value, token: Option<&str>) -> reqwest::Response {
        let req = self.client.put(self.url(&format!("/v1/lexicons/{name}")));
        self.with(req, token)
            .json(&body)
            .send()
            .await
            .expect("sent")
    }

    async fn get_lex(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let req = self.client.get(self.url(path));
        self.with(req, token).send().await.expect("sent")
    }

    async fn delete_lex(&self, name: &str, token: Option<&str>) -> reqwest::Response {
        let req = self
            .client
            .delete(self.url(&format!("/v1/lexicons/{name}")));
        self.with(req, token).send().await.expect("sent")
    }

    async fn post_as(&self, path: &str, body: Value, token: Option<&str>) -> reqwest::Response {
        let req = self.client.post(self.url(path));
        self.with(req, token)
            .json(&body)
            .send()
            .await
            .expect("sent")
    }

    /// The lexicons the fake was last asked to apply: (name, version, readings).
    fn last_lexicons(&self) -> Vec<(String, u64, Vec<String>)> {
        let last = self.fake.stats.last_request.lock().unwrap();
        let (req, _) = last.as_ref().expect("a synthesis happened");
        req.lexicons
            .iter()
            .map(|l| {
                let readings = l
                    .entries
                    .iter()
                    .map(|e| match &e.reading {
                        Reading::Alias(a) => format!("{} -> {a}", e.grapheme),
                        Reading::Phoneme(p) => format!("{} -> /{p}/", e.grapheme),
                    })
                    .collect();
                (l.name.clone(), l.version, readings)
            })
            .collect()
    }
}

fn brand(alias: &str) -> Value {
    json!({"lang": "en-us", "entries": [
        {"grapheme": "Polyvox", "alias": alias},
        {"grapheme": "SQL", "phoneme": "sˈikwəl"},
    ]})
}

/// `brand("polly vox")` at `version` as the synthesizer receives it (`Embedded::last_lexicons`).
fn brand_received(version: u64) -> Vec<(String, u64, Vec<String>)> {
    vec![(
        "brand".to_string(),
        version,
        vec![
            "Polyvox -> polly vox".to_string(),
            "SQL -> /sˈikwəl/".to_string(),
        ],
    )]
}

#[tokio::test]
async fn lexicons_are_created_read_listed_replaced_and_deleted() {
    let e = open().await;
    let res = e.put_lex("brand", brand("polly vox"), None).await;
    assert_eq!(res.status(), 201, "created");
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["name"].as_str(), v["version"].as_u64()),
        (Some("brand"), Some(1))
    );

    let got: Value = e
        .get_lex("/v1/lexicons/brand", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["lang"], "en-us");
    assert_eq!(
        got["entries"][0],
        json!({"grapheme": "Polyvox", "alias": "polly vox"})
    );
    assert_eq!(
        got["entries"][1],
        json!({"grapheme": "SQL", "phoneme": "sˈikwəl"})
    );

    let res = e.put_lex("brand", brand("banana split"), None).await;
    assert_eq!(res.status(), 200, "replaced");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["version"], 2, "every PUT bumps the version");
    assert_eq!(v["entries"][0]["alias"], "banana split");

    let list: Value = e.get_lex("/v1/lexicons", None).await.json().await.unwrap();
    assert_eq!(list["lexicons"].as_array().unwrap().len(), 1);
    assert_eq!(list["lexicons"][0]["version"], 2);
    assert_eq!(list["lexicons"][0]["entries"], 2);
    assert_eq!(list["max_per_request"], 4);
    assert!(list["phoneme_symbols"].as_str().unwrap().contains('ˈ'));

    assert_eq!(e.delete_lex("brand", None).await.status(), 204);
    let (status, code, msg) = error_of(e.get_lex("/v1/lexicons/brand", None).await).await;
    assert_eq!((status, code.as_str()), (404, "lexicon_not_found"));
    assert!(msg.contains("'brand'"), "{msg}");
    let (status, code, _) = error_of(e.delete_lex("brand", None).await).await;
    assert_eq!((status, code.as_str()), (404, "lexicon_not_found"));
}

#[tokio::test]
async fn pls_documents_are_accepted_and_malformed_ones_name_the_position() {
    let e = open().await;
    let pls = r#"<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>W3C</grapheme><alias>World Wide Web Consortium</alias></lexeme>
  <lexeme><grapheme>Polyvox</grapheme><phoneme>pˈɑlivɑks</phoneme></lexeme>
</lexicon>"#;
    let put = |doc: &'static str| {
        e.client
            .put(e.url("/v1/lexicons/pls"))
            .header("content-type", "application/pls+xml")
            .body(doc)
            .send()
    };
    let res = put(pls).await.unwrap();
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["lang"], "en-us");
    assert_eq!(v["entries"][0]["alias"], "World Wide Web Consortium");
    assert_eq!(v["entries"][1]["phoneme"], "pˈɑlivɑks");

    let (status, code, msg) = error_of(
        put("<lexicon>\n<lexeme><grapheme>a</lexeme>")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_lexicon"));
    assert!(msg.contains("line 2"), "{msg}");
    let res = e
        .client
        .put(e.url("/v1/lexicons/pls"))
        .header("content-type", "text/plain")
        .body("Polyvox = polly vox")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));
}

#[tokio::test]
async fn a_key_cannot_see_or_use_another_keys_lexicons() {
    let e = keyed().await;
    let a = e
        .keys
        .create_key("a", KeyLimits::default())
        .await
        .unwrap()
        .token;
    let b = e
        .keys
        .create_key("b", KeyLimits::default())
        .await
        .unwrap()
        .token;
    let (status, code, _) = error_of(e.put_lex("brand", brand("x"), None).await).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));

    assert_eq!(
        e.put_lex("brand", brand("polly vox"), Some(&a))
            .await
            .status(),
        201
    );
    assert_eq!(
        e.put_lex("brand", brand("polly vox"), Some(&a))
            .await
            .status(),
        200
    );

    let (status, code, _) = error_of(e.get_lex("/v1/lexicons/brand", Some(&b)).await).await;
    assert_eq!((status, code.as_str()), (404, "lexicon_not_found"));
    let list: Value = e
        .get_lex("/v1/lexicons", Some(&b))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["lexicons"], json!([]));
    let (status, code, _) = error_of(e.delete_lex("brand", Some(&b)).await).await;
    assert_eq!((status, code.as_str()), (404, "lexicon_not_found"));
    let body = json!({"input": "Polyvox", "stream": false, "response_format": "wav", "lexicons": ["brand"]});
    let (status, code, msg) =
        error_of(e.post_as("/v1/audio/speech", body.clone(), Some(&b)).await).await;
    assert_eq!((status, code.as_str()), (404, "lexicon_not_found"));
    assert!(msg.contains("lexicons[0]"), "{msg}");
    let (status, code, _) = error_of(e.post_as("/v1/jobs", body.clone(), Some(&b)).await).await;
    assert_eq!((status, code.as_str()), (404, "lexicon_not_found"));

    // B's own lexicon of the same name is its own, at its own version.
    let v: Value = e
        .put_lex("brand", brand("b's reading"), Some(&b))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["version"], 1);
    let mine: Value = e
        .get_lex("/v1/lexicons/brand", Some(&a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            mine["version"].as_u64(),
            mine["entries"][0]["alias"].as_str()
        ),
        (Some(2), Some("polly vox"))
    );

    let res = e.post_as("/v1/audio/speech", body, Some(&a)).await;
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    assert_eq!(
        e.last_lexicons(),
        brand_received(2),
        "A's own entries travel in the request"
    );
}

#[tokio::test]
async fn every_limit_and_bad_input_has_its_code() {
    let e = open().await;
    let entry = |g: &str| json!({"grapheme": g, "alias": "x"});
    let many: Vec<Value> = (0..1001).map(|i| entry(&format!("w{i}"))).collect();
    let cases = [
        ("Brand", brand("x"), 400, "invalid_lexicon", "name 'Brand'"),
        (
            "a.b",
            brand("x"),
            400,
            "invalid_lexicon",
            "a-z, 0-9, _ and -",
        ),
        (
            "ok",
            json!({"entries": []}),
            400,
            "invalid_lexicon",
            "entries is empty",
        ),
        (
            "ok",
            json!({"entries": many}),
            413,
            "lexicon_too_large",
            "entries has 1001 items; the limit is 1000",
        ),
        (
            "ok",
            json!({"entries": [entry(&"g".repeat(101))]}),
            413,
            "lexicon_too_large",
            "entries[0].grapheme has 101 characters; the limit is 100",
        ),
        (
            "ok",
            json!({"entries": [{"grapheme": "a", "alias": "b".repeat(201)}]}),
            413,
            "lexicon_too_large",
            "entries[0].alias has 201 characters; the limit is 200",
        ),
        (
            "ok",
            json!({"entries": [{"grapheme": "a", "phoneme": "hɛ5o"}]}),
            400,
            "invalid_lexicon",
            "entries[0].phoneme has '5'",
        ),
        (
            "ok",
            json!({"entries": [{"grapheme": "a", "phoneme": "a", "alias": "b"}]}),
            400,
            "invalid_lexicon",
            "both phoneme and alias",
        ),
        (
            "ok",
            json!({"entries": [{"grapheme": "a"}]}),
            400,
            "invalid_lexicon",
            "neither phoneme nor alias",
        ),
        (
            "ok",
            json!({"lang": "klingon", "entries": [entry("a")]}),
            400,
            "invalid_lexicon",
            "lang",
        ),
        (
            "ok",
            json!({"entries": [{"grapheme": "a", "alias": "b", "lang": "xx"}]}),
            400,
            "invalid_lexicon",
            "entries[0].lang",
        ),
        (
            "ok",
            json!({"entries": "nope"}),
            400,
            "invalid_request",
            "entries",
        ),
    ];
    for (name, body, status, code, needle) in cases {
        let (s, c, msg) = error_of(e.put_lex(name, body, None).await).await;
        assert_eq!((s, c.as_str()), (status, code), "{needle}: {msg}");
        assert!(msg.contains(needle), "'{msg}' lacks '{needle}'");
    }
    let (s, c, _) = error_of(
        e.get_lex(&format!("/v1/lexicons/{}", "x".repeat(65)), None)
            .await,
    )
    .await;
    assert_eq!((s, c.as_str()), (400, "invalid_lexicon"));

    // Per request: at most 4, no repeats, only existing ones.
    for name in ["l0", "l1", "l2", "l3", "l4"] {
        assert_eq!(e.put_lex(name, brand("x"), None).await.status(), 201);
    }
    let speak = |lexicons: Value| json!({"input": "Polyvox", "stream": false, "response_format": "wav", "lexicons": lexicons});
    for (lexicons, status, code, needle) in [
        (
            json!(["l0", "l1", "l2", "l3", "l4"]),
            400,
            "too_many_lexicons",
            "limit is 4 per request",
        ),
        (
            json!(["l0", "l0"]),
            400,
            "invalid_lexicon",
            "lexicons[1] repeats 'l0'",
        ),
        (
            json!(["l0", "Nope!"]),
            400,
            "invalid_lexicon",
            "lexicons[1]",
        ),
        (
            json!(["l0", "missing"]),
            404,
            "lexicon_not_found",
            "lexicons[1]: this key has no lexicon named 'missing'",
        ),
    ] {
        for path in ["/v1/audio/speech", "/v1/jobs"] {
            let (s, c, msg) = error_of(e.post_as(path, speak(lexicons.clone()), None).await).await;
            assert_eq!((s, c.as_str()), (status, code), "{path} {lexicons}: {msg}");
            assert!(msg.contains(needle), "{path}: '{msg}' lacks '{needle}'");
        }
    }

    // Per key: 100 lexicons; rewriting one at the bound is still allowed.
    for i in 5..100 {
        assert_eq!(
            e.put_lex(&format!("l{i}"), brand("x"), None).await.status(),
            201,
            "l{i}"
        );
    }
    let (s, c, msg) = error_of(e.put_lex("one-more", brand("x"), None).await).await;
    assert_eq!((s, c.as_str()), (400, "too_many_lexicons"), "{msg}");
    assert!(msg.contains("100 lexicons, the limit"), "{msg}");
    assert_eq!(e.put_lex("l99", brand("y"), None).await.status(), 200);
}

/// Speak with a lexicon, change one entry, speak again: the second answer is a new synthesis
/// with the new entry, never the cached audio of the first; the same text without the lexicon
/// is another cache entry again.
#[tokio::test]
async fn changing_an_entry_never_serves_audio_cached_before_the_change() {
    let e = open().await;
    assert_eq!(
        e.put_lex("brand", brand("polly vox"), None).await.status(),
        201
    );
    let body = json!({"input": "Polyvox speaks SQL.", "stream": false, "response_format": "wav", "lexicons": ["brand"]});
    let first = e.speech(body.clone()).await;
    assert_eq!(first.headers()["x-polyvox-cache"], "miss");
    let _ = first.bytes().await;
    let mut hit = false;
    // The result is stored after the response ends; give that task a moment.
    for _ in 0..100 {
        let r = e.speech(body.clone()).await;
        hit = r.headers()["x-polyvox-cache"] == "hit";
        let _ = r.bytes().await;
        if hit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(hit, "the same lexicon version is served from the cache");

    assert_eq!(
        e.put_lex("brand", brand("banana split"), None)
            .await
            .status(),
        200
    );
    let after = e.speech(body.clone()).await;
    assert_eq!(
        after.headers()["x-polyvox-cache"],
        "miss",
        "the changed entry is synthesized"
    );
    let _ = after.bytes().await;
    assert_eq!(
        e.last_lexicons(),
        [(
            "brand".to_string(),
            2,
            vec![
                "Polyvox -> banana split".to_string(),
                "SQL -> /sˈikwəl/".to_string()
            ]
        )]
    );

    let mut plain = body.clone();
    plain.as_object_mut().unwrap().remove("lexicons");
    let res = e.speech(plain).await;
    assert_eq!(
        res.headers()["x-polyvox-cache"],
        "miss",
        "no lexicon: another entry"
    );
    let _ = res.bytes().await;
    assert!(e.last_lexicons().is_empty());

    // A job carries the entries through its stored payload to the worker.
    let res = e
        .post_as(
            "/v1/jobs",
            json!({"input": "Polyvox again", "lexicons": ["brand"]}),
            None,
        )
        .await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = e.wait(&id, None).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(e.last_lexicons()[0].1, 2);
    assert_eq!(e.last_lexicons()[0].2[0], "Polyvox -> banana split");
}

/// SSML input takes lexicons like text does: the speech route and a job both hand the SSML
/// request and its resolved entries to the synthesizer, and a bad name is refused as for text.
#[tokio::test]
async fn ssml_input_takes_lexicons_too() {
    let e = open().await;
    assert_eq!(
        e.put_lex("brand", brand("polly vox"), None).await.status(),
        201
    );
    let input =
        "<speak>Polyvox speaks <phoneme alphabet=\"ipa\" ph=\"sˈikwəl\">SQL</phoneme>.</speak>";
    let expected = brand_received(1);
    let is_ssml = |e: &Embedded| {
        let last = e.fake.stats.last_request.lock().unwrap();
        last.as_ref()
            .expect("a synthesis happened")
            .0
            .ssml
            .is_some()
    };

    let res = e
        .speech(json!({"input": input, "stream": false, "response_format": "wav", "lexicons": ["brand"]}))
        .await;
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    assert!(is_ssml(&e), "read as SSML");
    assert_eq!(e.last_lexicons(), expected);

    let res = e
        .post_as(
            "/v1/jobs",
            json!({"input": input, "lexicons": ["brand"]}),
            None,
        )
        .await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = e.wait(&id, None).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(is_ssml(&e), "the job is read as SSML");
    assert_eq!(e.last_lexicons(), expected);

    let body = json!({"input": input, "stream": false, "lexicons": ["missing"]});
    let (s, c, msg) = error_of(e.post_as("/v1/audio/speech", body, None).await).await;
    assert_eq!((s, c.as_str()), (404, "lexicon_not_found"), "{msg}");
}

/// On a worker fleet the API only relays: the entries reach the worker inside the job payload,
/// which has no lexicon store of its own to ask.
#[tokio::test]
async fn the_entries_reach_a_fleet_worker_inside_the_job() {
    let e = Embedded::builder(FakeSpeech::new(2, Duration::ZERO))
        .remote(vec![polyvox_core::Lang::EnUs, polyvox_core::Lang::EnGb])
        .start()
        .await;
    assert_eq!(
        e.put_lex("brand", brand("polly vox"), None).await.status(),
        201
    );
    let res = e
        .speech(json!({"input": "Polyvox on the fleet.", "response_format": "wav", "lexicons": ["brand"]}))
        .await;
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    assert_eq!(e.last_lexicons(), brand_received(1));
}
