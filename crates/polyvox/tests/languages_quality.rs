//! Intelligibility of every non-English language, scored by our ASR judge (`tests/asr/judge.py`,
//! Whisper base):
//! five sentences of our own per language, CER for ja/zh/ko and WER for es/fr/it/pt-br, each
//! next to a baseline where one means something. For ja, zh and ko the baseline is the same
//! voices fed espeak-ng's phonemes (`POLYVOX_ESPEAK_G2P`); for Hindi, espeak-ng's own voice; ours
//! must have at most half the baseline's error. Hindi is scored by `tests/asr/judge_hindi.py`:
//! the same judge, compared on a consonant skeleton common to Devanagari and Urdu script,
//! since Whisper writes Hindi speech in Urdu script (QUALITY.md). Results land in
//! `$CARGO_TARGET_TMPDIR/quality-languages.json`; QUALITY.md quotes them. English has its own
//! test (`intelligibility.rs`).
//!
//! Two `polyvox serve` processes (ours, and one reading ja/zh/ko through espeak-ng) synthesize
//! every clip over HTTP, so the model loads twice rather than once per clip; the judge runs once
//! per language over both routes' clips (loading Whisper costs seconds), while the next
//! language is being synthesized.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What a language's figure is shown next to.
#[derive(Clone, Copy, PartialEq)]
enum Baseline {
    /// None: es, fr, it and pt-br are read by espeak-ng already.
    None,
    /// The same voices fed espeak-ng's phonemes for the language; ours must have at most half
    /// its error ("clearly lower", the issue's acceptance).
    EspeakG2p,
    /// espeak-ng's own formant voice (`espeak-ng -v <voice>`), recorded beside ours.
    EspeakVoice(&'static str),
}

struct Case {
    /// Our language code (`--lang`).
    lang: &'static str,
    /// The judge's language code.
    judge: &'static str,
    /// Corpus error rate above which the test fails (measured value plus a margin; see
    /// QUALITY.md).
    max_error: f64,
    baseline: Baseline,
    /// (voice, sentence); the sentence is also the reference.
    sentences: [(&'static str, &'static str); 5],
}

const CASES: &[Case] = &[
    Case {
        lang: "ja",
        judge: "ja",
        // 0.041 on these five by hand after issue 21 (0.137 before; QUALITY.md), plus a margin.
        max_error: 0.15,
        baseline: Baseline::EspeakG2p,
        sentences: [
            ("jf_alpha", "今日はとても良い天気ですね。"),
            ("jf_gongitsune", "私は毎朝コーヒーを飲みます。"),
            ("jm_kumo", "駅までバスで十分ぐらいかかります。"),
            ("jf_nezumi", "この本はとても面白かったです。"),
            ("jf_tebukuro", "明日の会議は午後三時から始まります。"),
        ],
    },
    Case {
        lang: "zh",
        judge: "zh",
        max_error: 0.25,
        baseline: Baseline::EspeakG2p,
        sentences: [
            ("zf_xiaobei", "今天天气很好，我们去公园散步吧。"),
            ("zm_yunxi", "我每天早上喝一杯咖啡。"),
            ("zf_xiaoni", "这本书非常有意思。"),
            ("zm_yunjian", "请问火车站怎么走？"),
            ("zf_xiaoyi", "明天下午三点开会。"),
        ],
    },
    Case {
        lang: "ko",
        judge: "ko",
        max_error: 0.20,
        baseline: Baseline::EspeakG2p,
        sentences: [
            ("jf_alpha", "안녕하세요, 만나서 반갑습니다."),
            ("jf_alpha", "오늘 날씨가 정말 좋네요."),
            ("jf_alpha", "저는 매일 아침 커피를 마십니다."),
            ("jf_alpha", "이 책은 아주 재미있어요."),
            ("jf_alpha", "내일 오후에 회의가 있습니다."),
        ],
    },
    Case {
        lang: "es",
        judge: "es",
        max_error: 0.15,
        baseline: Baseline::None,
        sentences: [
            (
                "ef_dora",
                "El tren sale de la estación a las ocho de la mañana.",
            ),
            ("em_alex", "Me gusta mucho leer libros en el parque."),
            ("ef_dora", "¿Dónde está la biblioteca más cercana?"),
            ("em_santa", "Hoy hace buen tiempo para caminar."),
            ("ef_dora", "Mi hermana trabaja en un hospital grande."),
        ],
    },
    Case {
        lang: "fr",
        judge: "fr",
        max_error: 0.35,
        baseline: Baseline::None,
        sentences: [
            ("ff_siwis", "Nous allons au marché tous les samedis matin."),
            ("ff_siwis", "Le train pour Paris part dans dix minutes."),
            ("ff_siwis", "J'aime beaucoup lire des livres le soir."),
            ("ff_siwis", "Il fait très beau aujourd'hui."),
            ("ff_siwis", "Ma sœur travaille dans un grand hôpital."),
        ],
    },
    Case {
        lang: "it",
        judge: "it",
        max_error: 0.25,
        baseline: Baseline::None,
        sentences: [
            ("if_sara", "Il treno per Roma parte alle otto del mattino."),
            ("im_nicola", "Mi piace molto leggere libri nel parco."),
            ("if_sara", "Dove si trova la stazione più vicina?"),
            ("im_nicola", "Oggi fa bel tempo per una passeggiata."),
            ("if_sara", "Mia sorella lavora in un grande ospedale."),
        ],
    },
    Case {
        lang: "pt-br",
        judge: "pt",
        max_error: 0.15,
        baseline: Baseline::None,
        sentences: [
            ("pf_dora", "O trem para São Paulo sai às oito da manhã."),
            ("pm_alex", "Eu gosto muito de ler livros no parque."),
            ("pf_dora", "Onde fica a estação mais próxima?"),
            ("pm_santa", "Hoje está um dia bonito para caminhar."),
            ("pf_dora", "Minha irmã trabalha em um hospital grande."),
        ],
    },
    Case {
        lang: "hi",
        judge: "hi",
        max_error: HI_MAX,
        baseline: Baseline::EspeakVoice("hi"),
        sentences: [
            ("hf_alpha", "आज मौसम बहुत अच्छा है।"),
            ("hm_omega", "मैं हर सुबह चाय पीता हूँ।"),
            ("hf_beta", "यह किताब बहुत दिलचस्प है।"),
            ("hm_psi", "रेलवे स्टेशन कहाँ है?"),
            ("hf_alpha", "मेरी बहन एक बड़े अस्पताल में काम करती है।"),
        ],
    },
];

/// Hindi's limit, on the consonant skeleton `tests/asr/judge_hindi.py` compares (QUALITY.md
/// has the measured value it leaves a margin above).
const HI_MAX: f64 = 0.45;

/// A `polyvox serve` on a free loopback port with its own data directory (so neither the result
/// cache nor the sentence cache is shared between the two routes); killed on drop.
struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server; `espeak_g2p` lists languages read through espeak-ng instead of ours.
fn spawn_server(espeak_g2p: &str) -> (Child, tempfile::TempDir) {
    let data = tempdir();
    let mut cmd = polyvox();
    cmd.args(["serve", "--no-auth", "--bind", "127.0.0.1:0"])
        .env("POLYVOX_DATA_DIR", data.path())
        // Embedded mode whatever the environment says: one process, its own files.
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("POLYVOX_STORAGE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if espeak_g2p.is_empty() {
        cmd.env_remove("POLYVOX_ESPEAK_G2P");
    } else {
        cmd.env("POLYVOX_ESPEAK_G2P", espeak_g2p);
    }
    (cmd.spawn().expect("spawning polyvox serve"), data)
}

/// Waits for the line that names the bound address.
fn listening(mut child: Child, data: tempfile::TempDir) -> Server {
    let base = listening_url(&mut child);
    Server {
        child,
        base,
        _data: data,
    }
}

/// Writes one clip: the whole file (not streamed), as `polyvox say` would write it.
async fn speak(client: &reqwest::Client, server: &Server, case: &Case, i: usize, out: &Path) {
    let (voice, text) = case.sentences[i];
    let res = client
        .post(format!("{}/v1/audio/speech", server.base))
        .json(&serde_json::json!({
            "input": text,
            "voice": voice,
            "lang": case.lang,
            "response_format": "wav",
            "stream": false,
        }))
        .send()
        .await
        .expect("request sent");
    let status = res.status();
    let body = res.bytes().await.expect("body");
    assert_eq!(
        status,
        200,
        "{text}: {}",
        String::from_utf8_lossy(&body[..body.len().min(500)])
    );
    std::fs::write(out, &body).expect("writing the clip");
}

/// espeak-ng's own voice reading `text` into `out` (the Hindi baseline).
fn espeak_voice(voice: &str, text: &str, out: &Path) {
    let o = Command::new("espeak-ng")
        .args(["-v", voice, "-w"])
        .arg(out)
        .arg(text)
        .output()
        .expect("running espeak-ng");
    assert!(o.status.success(), "espeak-ng -v {voice}: {}", stderr(&o));
}

fn clip(dir: &Path, case: &Case, route: &str, i: usize) -> PathBuf {
    dir.join(format!("{}-{route}-{i}.wav", case.lang))
}

fn routes(case: &Case) -> &'static [&'static str] {
    if case.baseline == Baseline::None {
        &["ours"]
    } else {
        &["ours", "base"]
    }
}

/// Starts the judge on every clip of one language, in one process (loading Whisper costs
/// seconds): ours first, then the baseline's.
fn start_judge(case: &Case, dir: &Path) -> Child {
    let mut tsv = String::new();
    for route in routes(case) {
        for (i, (_, text)) in case.sentences.iter().enumerate() {
            tsv.push_str(&format!(
                "{}\t{text}\n",
                clip(dir, case, route, i).display()
            ));
        }
    }
    let list = dir.join(format!("{}.tsv", case.lang));
    std::fs::write(&list, tsv).unwrap();
    let mut cmd = if case.lang == "hi" {
        asr_judge("judge_hindi.py")
    } else {
        let mut cmd = asr_judge("judge.py");
        cmd.args(["--lang", case.judge]);
        cmd
    };
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.arg("--batch")
        .arg(&list)
        .spawn()
        .expect("running the judge")
}

/// The judge's JSON rows for one language, in the order [`start_judge`] listed the clips.
fn finish_judge(case: &Case, judge: Child) -> Vec<serde_json::Value> {
    let o = judge.wait_with_output().expect("waiting for the judge");
    assert!(o.status.success(), "judge failed: {}", stderr(&o));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows.len(),
        case.sentences.len() * routes(case).len(),
        "judge scored every clip of {}",
        case.lang
    );
    rows
}

/// Corpus error rate: all edits over all reference units.
fn corpus_rate(rows: &[serde_json::Value]) -> f64 {
    let (mut e, mut n) = (0u64, 0u64);
    for v in rows {
        e += ["sub", "del", "ins"]
            .iter()
            .map(|k| v[*k].as_u64().unwrap())
            .sum::<u64>();
        n += v["ref_len"].as_u64().unwrap();
    }
    e as f64 / n.max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real model, espeak-ng and the ASR judge (scripts/test.sh sets them up)"]
async fn every_language_is_intelligible_and_beats_its_baseline() {
    let dir = tempdir();
    let dir = dir.path();
    // Both servers load the model at once; the espeak-ng one reads ja, zh and ko its way.
    let via_g2p: Vec<&str> = CASES
        .iter()
        .filter(|c| c.baseline == Baseline::EspeakG2p)
        .map(|c| c.lang)
        .collect();
    let (ours, ours_data) = spawn_server("");
    let (base, base_data) = spawn_server(&via_g2p.join(","));
    let ours = listening(ours, ours_data);
    let base = listening(base, base_data);
    let client = reqwest::Client::new();
    // Where the time goes, printed for QUALITY.md (never asserted: the machine is shared).
    let (started, mut synthesis, mut waiting) = (
        std::time::Instant::now(),
        std::time::Duration::ZERO,
        std::time::Duration::ZERO,
    );
    // One language is judged while the next is synthesized; one judge at a time, as each uses
    // every core.
    let mut judged = Vec::new();
    let mut running: Option<(&Case, Child)> = None;
    for case in CASES {
        let t = std::time::Instant::now();
        for i in 0..case.sentences.len() {
            speak(&client, &ours, case, i, &clip(dir, case, "ours", i)).await;
            let out = clip(dir, case, "base", i);
            match case.baseline {
                Baseline::None => {}
                Baseline::EspeakG2p => speak(&client, &base, case, i, &out).await,
                Baseline::EspeakVoice(v) => espeak_voice(v, case.sentences[i].1, &out),
            }
        }
        synthesis += t.elapsed();
        let t = std::time::Instant::now();
        if let Some((c, judge)) = running.take() {
            judged.push((c, finish_judge(c, judge)));
        }
        waiting += t.elapsed();
        running = Some((case, start_judge(case, dir)));
    }
    drop((ours, base));
    let t = std::time::Instant::now();
    if let Some((c, judge)) = running.take() {
        judged.push((c, finish_judge(c, judge)));
    }
    waiting += t.elapsed();
    eprintln!(
        "time: {:.0} s in all; synthesis {:.0} s, then waiting for the judge {:.0} s",
        started.elapsed().as_secs_f64(),
        synthesis.as_secs_f64(),
        waiting.as_secs_f64()
    );

    let mut report = serde_json::Map::new();
    let mut failures = Vec::new();
    for (case, mut rows) in judged {
        let baseline = rows.split_off(case.sentences.len());
        let rate = corpus_rate(&rows);
        for v in &rows {
            eprintln!(
                "{} {:.3}  {} | heard: {}",
                case.lang,
                v["error_rate"].as_f64().unwrap_or(f64::NAN),
                v["ref"],
                v["transcript"]
            );
        }
        eprintln!(
            "{}: corpus error {rate:.3} (limit {})",
            case.lang, case.max_error
        );
        let mut entry = serde_json::json!({ "ours": rate, "clips": rows });
        if rate > case.max_error {
            failures.push(format!(
                "{} error {rate:.3} > {}",
                case.lang, case.max_error
            ));
        }
        if !baseline.is_empty() {
            let base_rate = corpus_rate(&baseline);
            for v in &baseline {
                eprintln!(
                    "{} baseline {:.3} | heard: {}",
                    case.lang,
                    v["error_rate"].as_f64().unwrap_or(f64::NAN),
                    v["transcript"]
                );
            }
            eprintln!("{}: baseline {base_rate:.3}", case.lang);
            entry["baseline"] = serde_json::json!(base_rate);
            entry["baseline_clips"] = serde_json::json!(baseline);
            // "Clearly lower": at most half the baseline's error. For Hindi this also shows the
            // skeleton measure tells good speech from poor (it is not saturated either way).
            if rate > base_rate * 0.5 {
                failures.push(format!(
                    "{} ours {rate:.3} is not clearly below the baseline's {base_rate:.3}",
                    case.lang
                ));
            }
        }
        report.insert(case.lang.into(), entry);
    }
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("quality-languages.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    assert!(failures.is_empty(), "{}", failures.join("; "));
}
