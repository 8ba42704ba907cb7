//! The non-English front ends on the real assets: G2P snapshots per language (numbers,
//! punctuation, mixed scripts), every symbol in Kokoro's vocabulary, long CJK texts chunked with
//! nothing lost, and per-sentence language detection.

mod common;

use common::{assert_chunk_invariants, frontend, vocab};
use polyvox_core::Lang;
use polyvox_text::{ChunkOptions, Frontend, Resources, TextError};

fn ph(text: &str, lang: Lang) -> String {
    frontend()
        .phonemize(text, lang)
        .unwrap_or_else(|e| panic!("{lang} {text:?}: {e}"))
}

/// The (text, phonemes) pairs that differ, printed as actual values so a deliberate change can
/// be reviewed and pasted in one go.
fn diffs(lang: Lang, cases: &[(&str, &str)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (text, want) in cases {
        let got = ph(text, lang);
        if got != *want {
            bad.push(format!("{lang}: (\"{text}\", \"{got}\"),"));
        }
    }
    bad
}

fn snapshot(lang: Lang, cases: &[(&str, &str)]) {
    let bad = diffs(lang, cases);
    assert!(
        bad.is_empty(),
        "snapshots differ; actual:\n{}",
        bad.join("\n")
    );
}

/// misaki's default path (cutlet), which Kokoro's Japanese voices were trained on: a space
/// between words, particles included; the r-row ɾ, palatalised き り; our own readings for
/// numbers and counters (scripts/ja_parity.py compares the rest).
#[test]
fn japanese_snapshots() {
    snapshot(
        Lang::Ja,
        &[
            ("今日は良い天気ですね。", "kʲoː βa joi teŋkʲi desɨ ne."),
            ("東京へ行きました。", "toːkʲoː e ikʲimaɕita."),
            ("私は学校に行く。", "βataɕi βa ɡaʔkoː ɲi ikɯ."),
            (
                "ラーメンを食べに行きましょう。",
                "ɾaːmeɴ o tabe ɲi ikʲimaɕoː.",
            ),
            ("友達に傘を借りました。", "tomodaʨi ɲi kasa o kaɾʲimaɕita."),
            ("ちょっと待ってください。", "ʨoʔto maʔte kɯdasai."),
            ("住んでいます。", "sɨnde imasɨ."),
            (
                "2024年4月1日に3人で来ました。",
                "ɲiseɲɲiʥɨːjoneɴ ɕiɡaʦɨ ʦɨitaʨi ɲi saɲɲiɴ de kʲimaɕita.",
            ),
            (
                "コーヒーを2杯と、ケーキを1個ください！",
                "koːçiː o ɲihai to, keːkʲi o iʔko kɯdasai!",
            ),
            (
                "午後3時30分に、「会議」を始めます。",
                "ɡoɡo saɲʥi saɲʥɨʔpɯɴ ɲi, “kaiɡʲi” o haʥimemasɨ.",
            ),
            (
                "価格は1,500円、割引は20%です。",
                "kakakɯ βa seŋɡoçakɯeɴ, βaɾʲibʲikʲi βa ɲiʥɨːpaːsento desɨ.",
            ),
            ("iPhoneで写真を撮った。", "ˈIfˈOn de ɕaɕiɴ o toʔta."),
            ("ＮＨＫのニュースを見た。", "enɯeːʨikeː no ɲɨːsɨ o mʲita."),
            ("hello world", "həlˈO wˈɜɹld"),
        ],
    );
}

/// ん takes the place of the sound after it inside a word (m, ŋ, ɲ, n; ɴ otherwise and at the
/// end), and っ is ʔ, through the dictionary as well as in kana.
#[test]
fn japanese_moraic_nasal_and_sokuon() {
    snapshot(
        Lang::Ja,
        &[
            // m before m p b
            ("散歩", "sampo"),
            ("新聞", "ɕimbɯɴ"),
            // ŋ before k ɡ
            ("銀行", "ɡʲiŋkoː"),
            ("団子", "daŋɡo"),
            // ɲ before ɲ ʨ ʥ
            ("漢字", "kaɲʥi"),
            // n before n t d ɾ z
            ("案内", "annai"),
            ("本当", "hontoː"),
            ("温度", "ondo"),
            // ɴ before s h j β and vowels, and at the end
            ("先生", "seɴseː"),
            ("電話", "deɴβa"),
            ("本屋", "hoɴja"),
            ("恋愛", "ɾeɴai"),
            // っ before k t s d
            ("学校", "ɡaʔkoː"),
            ("切手", "kʲiʔte"),
            ("雑誌", "ʣaʔɕi"),
            ("ベッド", "beʔdo"),
        ],
    );
}

#[test]
fn mandarin_snapshots() {
    snapshot(
        Lang::Zh,
        &[
            ("你好，世界！", "ni↗xau↓, ʂɨ↘ʨje↘!"),
            ("我很好。", "wo↗ xə↗n xau↓."),
            ("一个人不去。", "i↗kɤ↘ ɻə↗npu↗ʨʰy↘."),
            ("一天，一年，第一。", "i↘tʰjɛ→n, i↘njɛ↗n, ti↘i→."),
            (
                "我有2个苹果和15本书。",
                "wo↗ jou↗ lja↓ŋ kɤ↘ pʰi↗ŋkwo↓ xɤ↗ ʂɨ↗u↓ pə↓nʂu→.",
            ),
            (
                "2024年的价格是3.5元，涨了50%。",
                "ɚ↘li↗ŋɚ↘sɨ↘ njɛ↗n tɤ ʨja↘kɤ↗ ʂɨ↘ sa→ntjɛ↗nu↓ ɥɛ↗n, ꭧa↓ŋ lɤ pai↓fə→nꭧɨ→u↓ʂɨ↗.",
            ),
            ("我喜欢用iPhone拍照。", "wo↗ ɕi↓xwan jʊ↘ŋ ˈIfˈOn pʰai→ꭧau↘."),
            ("银行在哪里？", "i↗nxa↗ŋ ʦai↘ na↗li↓?"),
            ("我买了iPhone 15。", "wo↗ mai↓ lɤ ˈIfˈOn ʂɨ↗u↓."),
        ],
    );
}

#[test]
fn korean_snapshots() {
    snapshot(
        Lang::Ko,
        &[
            ("안녕하세요, 반갑습니다.", "annjʌŋhasejo, panɡapsɯmnida."),
            ("음악을 좋아해요.", "ɯmaɡɯl ʨoahɛjo."),
            ("같이 갑시다!", "kaʨʰi kapɕida!"),
            (
                "사과 3개와 학생 20명이 있어요.",
                "saɡwa seɡɛwa haksɛŋ sɯmumjʌŋi isʌjo.",
            ),
            (
                "2024년 6월 15일, 5,000원입니다.",
                "iʨʰʌniɕipsanjʌn juwʌl ɕiboil, oʨʰʌnwʌnimnida.",
            ),
            ("hello 안녕하세요", "həlˈO annjʌŋhasejo"),
            ("어제 iPhone 15를 샀어요.", "ʌʥe ˈIfˈOn ɕiboɾɯl sasʌjo."),
            (
                "저는 Seoul에서 3년 살았어요!",
                "ʨʌnɯn sˈOl esʌ samnjʌn saɾasʌjo!",
            ),
        ],
    );
}

/// Latin-script words inside Japanese, Mandarin or Korean text are read by the English front
/// end (the same phonemes as English text), never dropped; text of Latin words alone too.
#[test]
fn latin_words_in_cjk_text_are_read_in_english() {
    let english = ph("hello world", Lang::EnUs);
    for (lang, text) in [
        (Lang::Ja, "hello world"),
        (Lang::Zh, "hello world"),
        (Lang::Ko, "hello world"),
        (Lang::Ja, "hello worldです。"),
        (Lang::Zh, "hello world你好。"),
        (Lang::Ko, "hello world 안녕하세요."),
    ] {
        let got = ph(text, lang);
        assert!(
            got.starts_with(&english),
            "{lang} {text:?}: {got:?} does not start with English {english:?}"
        );
        assert!(
            text.is_ascii() || got.len() > english.len() + 2,
            "{lang} {text:?}: the CJK part is missing from {got:?}"
        );
    }
}

#[test]
fn espeak_language_snapshots() {
    let mut bad = Vec::new();
    for (lang, text, want) in [
        (
            Lang::Es,
            "¿Dónde está la estación? Son las 3.",
            "dˈonde estˈa la ˌestaθjˈon? sˈon las tɾˈes.",
        ),
        (
            Lang::Fr,
            "Bonjour, comment ça va ?",
            "bɔ̃ʒˈuʁ, kɔmˌɑ̃ sa vˈa?",
        ),
        (
            Lang::It,
            "Buongiorno, come stai?",
            "bʊonʤˈɔrno, kˌome stˈaj?",
        ),
        (Lang::PtBr, "Bom dia, tudo bem?", "bˈoŋ ʤˈiæ, tˈudʊ bˈeɪŋ?"),
        (Lang::Hi, "नमस्ते, आप कैसे हैं?", "nəmˈʌsteː, ˌaːp kˈɛːseː hɛ̃?"),
        // Numbers, and a Latin-script word inside the text.
        (
            Lang::Fr,
            "Il part à 8 heures ; j'ai 25 ans.",
            "il pˈaʁ a yˈit ˈœʁ; ʒe vɛ̃tsˈɛ̃k ˈɑ̃.",
        ),
        (
            Lang::It,
            "Sono le 7, ho 30 anni!",
            "sˌono le sˈɛtːe, o trˈeːnta ˈannɪ!",
        ),
        (
            Lang::PtBr,
            "São 9 horas; tenho 40 anos.",
            "sɐ̃ʊ̃ nˈɔvy ˈɔɾæs; tˌeɲʊ kwˌaɾˈeɪŋtæ ˈɐ̃nʊs.",
        ),
        (
            Lang::Hi,
            "मेरे पास 3 किताबें हैं।",
            "mˌeːɾeː pˈaːs tˈiːn kɪtˈaːbẽː hɛ̃.",
        ),
        (Lang::Hi, "मेरा फ़ोन Samsung है।", "mˌeːɾaː fˈoːn sˈamsʌŋ hɛː."),
        (
            Lang::Es,
            "Compré un iPhone por 500 euros.",
            "kompɾˈe ˈun ˈaɪfon poɾ kinjˈɛntos ˈeʊɾos.",
        ),
    ] {
        bad.extend(diffs(lang, &[(text, want)]));
    }
    assert!(
        bad.is_empty(),
        "snapshots differ; actual:\n{}",
        bad.join("\n")
    );
}

/// Every symbol any reader emits is one Kokoro knows (the chunk invariants check ids too).
#[test]
fn every_language_emits_only_vocabulary_symbols() {
    let (symbols, _) = vocab();
    let corpus: &[(Lang, &str)] = &[
        (
            Lang::Ja,
            "きゃりーぱみゅぱみゅ、ヴァイオリン、ティーカップ、ドゥ、フォーク、ウィスキー、ジェット、ツァイ、ファン、ヂャ、っ、ん、ー。今日は東京へ行って、3本のペンと1,000円を持ってきた。",
        ),
        (
            Lang::Zh,
            "中华人民共和国成立于1949年。儿子、女儿、嗯、哼、欸、哦！这是一个非常重要的问题：我们需要更多的数据。",
        ),
        (
            Lang::Ko,
            "읽다 닭 값 앉다 많다 싫다 흙 밟다 의사 의자 희망 꽃잎 맑은 하늘에 12,345원, 99명, 100살.",
        ),
        (
            Lang::Es,
            "¡Hola! ¿Qué tal? Mañana, a las 10, jugamos al fútbol con niños pequeños.",
        ),
        (
            Lang::Fr,
            "L'été dernier, nous étions à Besançon ; c'était génial, 25 degrés !",
        ),
        (
            Lang::It,
            "Perché l'università è chiusa? Gli studenti sono già partiti alle 18.",
        ),
        (
            Lang::PtBr,
            "Não sei se ele já chegou; ônibus, pão e coração às 7 horas.",
        ),
        (Lang::Hi, "भारत एक विशाल देश है। यहाँ 28 राज्य हैं।"),
    ];
    for (lang, text) in corpus {
        let p = ph(text, *lang);
        assert!(
            p.chars().count() > text.chars().count() / 2,
            "{lang}: too little output: {p}"
        );
        let outside: String = p.chars().filter(|c| !symbols.contains(c)).collect();
        assert!(
            outside.is_empty(),
            "{lang}: symbols outside the vocabulary: {outside:?} in {p}"
        );
        let opts = ChunkOptions::default();
        let chunks = frontend().chunks(text, *lang, &opts).unwrap();
        assert_chunk_invariants(text, &chunks, &opts);
    }
}

fn long(paragraph: &str, chars: usize) -> String {
    let mut s = String::new();
    while s.chars().count() < chars {
        s.push_str(paragraph);
    }
    s
}

/// 3,000+ characters chunk completely: the chunk spans cover the input in order (the invariants),
/// every chunk is within budget, and every CJK character is inside a chunk that has at least as
/// many phoneme ids as it has CJK characters (so nothing was silently dropped).
fn assert_long_text_complete(text: &str, lang: Lang) {
    assert!(text.chars().count() >= 3000);
    for opts in [ChunkOptions::default(), ChunkOptions::streaming()] {
        let chunks = frontend().chunks(text, lang, &opts).unwrap();
        assert_chunk_invariants(text, &chunks, &opts);
        let covered: usize = chunks
            .iter()
            .map(|c| c.text.chars().filter(|c| is_cjk(*c)).count())
            .sum();
        let total = text.chars().filter(|c| is_cjk(*c)).count();
        assert_eq!(covered, total, "{lang}: every CJK character is in a chunk");
        for c in &chunks {
            let n = c.text.chars().filter(|c| is_cjk(*c)).count();
            assert!(
                c.ids.len() >= n,
                "{lang}: chunk {} reads {} ids for {n} characters: {}",
                c.index,
                c.ids.len(),
                c.text
            );
        }
        // Cuts fall at marks or word (phrase) boundaries: every chunk but the last ends at a mark
        // or the next chunk starts a new word (never inside a word's phonemes).
        assert!(chunks.len() > 5, "{lang}: a long text makes many chunks");
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{4E00}'..='\u{9FFF}')
}

#[test]
fn long_japanese_text_is_chunked_completely() {
    let para = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ、何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。\
2024年3月15日の午後2時に、私たちは東京駅から新幹線に乗って京都へ向かいました。\
句読点のないとても長い文でも途中で切られることなく最後まで正しく読まれなければならないのでこの文はわざと長く書かれています\
；しかし、それでも問題はありません！";
    assert_long_text_complete(&long(para, 3000), Lang::Ja);
}

#[test]
fn long_mandarin_text_is_chunked_completely() {
    let para = "今天天气很好，我们一起去公园散步吧。他说：“我不知道这件事情。”\
2024年有366天，其中的百分之三十是周末；价格上涨了3.5%。\
没有标点符号的非常长的句子也必须从头到尾完整地读出来而不能在中间被截断所以这个句子写得特别长\
、然后还有顿号、逗号，以及问号？";
    assert_long_text_complete(&long(para, 3000), Lang::Zh);
}

#[test]
fn mixed_text_is_read_sentence_by_sentence() {
    let text =
        "The weather is lovely today. 今日はとても良い天気ですね。北京欢迎你。오늘 날씨가 좋네요.";
    let opts = ChunkOptions::default();
    let auto = frontend().chunks_auto(text, Lang::EnUs, &opts).unwrap();
    assert_chunk_invariants(text, &auto, &opts);
    let joined: String = auto
        .iter()
        .map(|c| c.phonemes.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    for (part, lang) in [
        ("The weather is lovely today.", Lang::EnUs),
        ("今日はとても良い天気ですね。", Lang::Ja),
        ("北京欢迎你。", Lang::Zh),
        ("오늘 날씨가 좋네요.", Lang::Ko),
    ] {
        let alone = ph(part, lang);
        assert!(
            joined.contains(alone.trim_end_matches(['.', ' '])),
            "{lang} part {alone:?} missing in {joined:?}"
        );
    }
}

#[test]
fn the_japanese_dictionary_is_read_at_the_first_japanese_text() {
    // A front end of its own: the shared one may already have read Japanese for another test.
    let fe = Frontend::load(&Resources::from_assets_dir(common::assets_dir())).unwrap();
    assert!(
        fe.supports(Lang::Ja),
        "the test assets have the Japanese dictionary built"
    );
    assert!(
        format!("{fe:?}").contains("Japanese(not yet loaded)"),
        "{fe:?}"
    );
    fe.phonemize("hello world", Lang::EnUs).unwrap();
    assert!(
        format!("{fe:?}").contains("Japanese(not yet loaded)"),
        "{fe:?}"
    );
    assert_eq!(
        fe.phonemize("東京へ行きました。", Lang::Ja).unwrap(),
        "toːkʲoː e ikʲimaɕita."
    );
    assert!(format!("{fe:?}").contains("Japanese(loaded)"), "{fe:?}");
}

#[test]
fn a_damaged_japanese_dictionary_fails_japanese_texts_only() {
    let dir = tempfile::tempdir().unwrap();
    let assets = common::assets_dir();
    let dict = polyvox_text::ja_dict::dictionary_path(&assets);
    let copy = dir.path().join("ipadic.vibrato");
    // Same length as the real file (so the build stamp still matches), other bytes.
    std::fs::write(
        &copy,
        vec![0u8; std::fs::metadata(&dict).unwrap().len() as usize],
    )
    .unwrap();
    std::fs::copy(
        dict.with_extension("vibrato.stamp"),
        copy.with_extension("vibrato.stamp"),
    )
    .unwrap();
    let fe = Frontend::load(&Resources {
        ja_dict: copy,
        ..Resources::from_assets_dir(&assets)
    })
    .unwrap();
    assert!(fe.supports(Lang::Ja));
    let err = fe.phonemize("東京へ行きました。", Lang::Ja).unwrap_err();
    assert!(matches!(err, TextError::AssetInvalid { .. }), "{err:?}");
    // Asked again, it fails the same way without another read; other languages are unaffected.
    assert!(matches!(
        fe.phonemize("東京", Lang::Ja),
        Err(TextError::AssetInvalid { .. })
    ));
    assert!(
        format!("{fe:?}").contains("Japanese(failed to load)"),
        "{fe:?}"
    );
    fe.phonemize("hello world", Lang::EnUs).unwrap();
}
