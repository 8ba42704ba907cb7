use super::*;

fn ok(src: &str) -> Document {
    parse(src, "input").unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn texts(d: &Document) -> Vec<String> {
    d.items
        .iter()
        .map(|i| match i {
            Item::Text { text, .. } => format!("T:{text}"),
            Item::Read { reading, span, .. } => format!("R:{reading:?}@{span:?}"),
            Item::Break { ms } => format!("B:{ms}"),
            Item::Boundary(b) => format!("{b:?}"),
        })
        .collect()
}

#[test]
fn twenty_and_more_malformed_documents_each_name_a_line_and_column() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("<speak>Hello", (1, 1), "<speak> is never closed"),
        ("<speak><p>Hi</speak>", (1, 13), "closes <p>"),
        (
            "<speak>\n  <p><s>Hi</p></s>\n</speak>",
            (2, 11),
            "closes <s>",
        ),
        (
            "<speak><voice name=\"x\">Hi</voice></speak>",
            (1, 8),
            "unknown element <voice>",
        ),
        (
            "<speak><script>alert(1)</script></speak>",
            (1, 8),
            "unknown element <script>",
        ),
        (
            "<speak><p class=\"x\">Hi</p></speak>",
            (1, 8),
            "unknown attribute 'class'",
        ),
        (
            "<speak><prosody pitch=\"high\">Hi</prosody></speak>",
            (1, 8),
            "unknown attribute 'pitch'",
        ),
        (
            "<speak>A <break time=\"fast\"/> B</speak>",
            (1, 10),
            "needs a unit",
        ),
        (
            "<speak>A <break time=\"-5s\"/> B</speak>",
            (1, 10),
            "non-negative",
        ),
        (
            "<speak>A\n<break time=\"6s\"/> B</speak>",
            (2, 1),
            "over the 5 s maximum",
        ),
        (
            "<speak>A <break strength=\"huge\"/> B</speak>",
            (1, 10),
            "break strength",
        ),
        (
            "<speak><say-as interpret-as=\"vehicle\">AB</say-as></speak>",
            (1, 8),
            "interpret-as 'vehicle'",
        ),
        (
            "<speak><say-as interpret-as=\"cardinal\">12a</say-as></speak>",
            (1, 40),
            "integer",
        ),
        (
            "<speak><say-as interpret-as=\"date\" format=\"dmy\">2024-13-01</say-as></speak>",
            (1, 49),
            "out of range",
        ),
        (
            "<speak><say-as interpret-as=\"time\">25:00</say-as></speak>",
            (1, 36),
            "a time",
        ),
        (
            "<speak><phoneme alphabet=\"ipa\" ph=\"hə§oʊ\">hello</phoneme></speak>",
            (1, 8),
            "'§'",
        ),
        (
            "<speak><phoneme alphabet=\"x-sampa\" ph=\"h@\">hello</phoneme></speak>",
            (1, 8),
            "alphabet",
        ),
        (
            "<speak><lang xml:lang=\"tlh\">Qapla'</lang></speak>",
            (1, 8),
            "not a language",
        ),
        (
            "<speak><lang>Hi</lang></speak>",
            (1, 8),
            "needs an xml:lang",
        ),
        ("Hello <speak>Hi</speak>", (1, 1), "text outside <speak>"),
        (
            "<speak>Hi</speak> trailing",
            (1, 19),
            "text outside <speak>",
        ),
        ("<p>Hi</p>", (1, 1), "outside <speak>"),
        ("<speak>Hi</speak><speak>again</speak>", (1, 18), "one root"),
        (
            "<!DOCTYPE speak [<!ENTITY x \"boom\">]><speak>&x;</speak>",
            (1, 1),
            "DTD",
        ),
        (
            "<speak>Caf&eacute;</speak>",
            (1, 11),
            "unknown entity &eacute;",
        ),
        ("<speak>AT&T</speak>", (1, 10), "entity"),
        ("<speak><![CDATA[<b>]]></speak>", (1, 8), "CDATA"),
        (
            "<speak><?php echo 1 ?></speak>",
            (1, 8),
            "processing instructions",
        ),
        (
            "<speak><sub alias=\"x\"><break/></sub></speak>",
            (1, 23),
            "cannot be inside <sub>",
        ),
        ("<speak><sub>WWW</sub></speak>", (1, 8), "needs an alias"),
        (
            "<speak><sub alias=\"World\"></sub></speak>",
            (1, 8),
            "is empty",
        ),
        (
            "<speak><s><s>Hi</s></s></speak>",
            (1, 11),
            "<s> can only be",
        ),
        (
            "<speak><p><p>Hi</p></p></speak>",
            (1, 11),
            "<p> can only be",
        ),
        (
            "<speak><prosody rate=\"warp\">Hi</prosody></speak>",
            (1, 8),
            "prosody rate 'warp'",
        ),
        (
            "<speak><emphasis level=\"loud\">Hi</emphasis></speak>",
            (1, 8),
            "emphasis level",
        ),
        (
            "<speak><break>text</break></speak>",
            (1, 15),
            "cannot contain text",
        ),
        (
            "<speak>Hi &#x202E;there</speak>",
            (1, 11),
            "bidirectional override",
        ),
        (
            "<speak><p x=1>Hi</p></speak>",
            (1, 8),
            "malformed attribute",
        ),
        ("</speak>", (1, 1), "closes nothing"),
        ("", (1, 1), "no <speak>"),
    ];
    assert!(cases.len() >= 20);
    let mut wrong = Vec::new();
    for (src, (line, col), needle) in cases {
        let Err(err) = parse(src, "input") else {
            wrong.push(format!("{src}: accepted"));
            continue;
        };
        assert_eq!(err.code, ErrorCode::InvalidSsml, "{src}");
        assert_eq!(err.code.http_status(), 400);
        let at = format!("at line {line}, column {col}");
        if !(err.message.contains(&at)
            && err.message.contains(needle)
            && err.message.starts_with("input is not valid SSML"))
        {
            wrong.push(format!(
                "{src}: '{}' lacks '{at}' or '{needle}'",
                err.message
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn nesting_and_size_are_bounded() {
    let deep = format!(
        "<speak>{}Hi{}</speak>",
        "<prosody>".repeat(20),
        "</prosody>".repeat(20)
    );
    let err = parse(&deep, "input").unwrap_err();
    assert!(err.message.contains("deeper than 16"), "{}", err.message);
    let many = format!(
        "<speak>{}</speak>",
        "<break time=\"1ms\"/>".repeat(MAX_ELEMENTS + 1)
    );
    assert!(
        parse(&many, "input")
            .unwrap_err()
            .message
            .contains("elements")
    );
    let long = format!("<speak>{}</speak>", "a <break time=\"5s\"/> ".repeat(13));
    assert!(
        parse(&long, "input")
            .unwrap_err()
            .message
            .contains("add up to more than 60 s")
    );
}

#[test]
fn a_document_becomes_flat_typed_pieces_with_source_spans() {
    let src = "<?xml version=\"1.0\"?>\n<speak version=\"1.1\" xmlns=\"http://www.w3.org/2001/10/synthesis\">\n  <p>\n    <s>Hello &amp;   welcome.</s>\n    <s>Call <say-as interpret-as=\"telephone\">555-0100</say-as><break time=\"500ms\"/> or visit the <sub alias=\"World Wide Web\">WWW</sub>.</s>\n  </p>\n  <!-- a comment -->\n  <prosody rate=\"50%\"><prosody rate=\"fast\">slow</prosody></prosody>\n  <lang xml:lang=\"fr-FR\">Bonjour</lang>\n  <emphasis level=\"strong\">really</emphasis>\n  <phoneme alphabet=\"ipa\" ph=\"təmˈɑːtoʊ\">tomato</phoneme>\n</speak>";
    let d = ok(src);
    let t = texts(&d);
    assert!(
        t.contains(&"T: Hello & welcome.".to_string())
            || t.contains(&"T:Hello & welcome.".to_string()),
        "{t:?}"
    );
    assert!(t.contains(&"B:500".to_string()), "{t:?}");
    assert_eq!(t.iter().filter(|x| *x == "Paragraph").count(), 2, "{t:?}");
    assert_eq!(t.iter().filter(|x| *x == "Sentence").count(), 4, "{t:?}");
    // Offsets point into the source: the sub's written text, the say-as token.
    for item in &d.items {
        if let Item::Read {
            reading,
            span,
            style,
        } = item
        {
            let written = &src[span.clone()];
            match reading {
                Reading::Alias(a) => assert_eq!((a.as_str(), written), ("World Wide Web", "WWW")),
                Reading::Telephone { groups, .. } => {
                    assert_eq!(written, "555-0100");
                    assert_eq!(groups, &["555", "0100"]);
                }
                Reading::Phonemes(p) => {
                    assert_eq!(written, "tomato");
                    assert_eq!(p, "təmˈɑːtoʊ");
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(style.rate, 1.0);
        }
        if let Item::Text {
            text,
            src: map,
            style,
        } = item
        {
            assert_eq!(map.len(), text.len() + 1);
            if text.contains("welcome") {
                let at = text.find("welcome").unwrap();
                assert_eq!(&src[map[at]..map[at + "welcome".len()]], "welcome");
                let amp = text.find('&').unwrap();
                assert_eq!(&src[map[amp]..map[amp + 1]], "&amp;");
            }
            if text.contains("slow") {
                assert!((style.rate - 0.625).abs() < 1e-6, "rates multiply");
            }
            if text.contains("Bonjour") {
                assert_eq!(style.lang, Some(Lang::Fr));
            }
        }
    }
}

#[test]
fn say_as_values_are_typed() {
    let read = |kind: &str, extra: &str, body: &str| -> Reading {
        let d = ok(&format!(
            "<speak><say-as interpret-as=\"{kind}\"{extra}>{body}</say-as></speak>"
        ));
        match &d.items[0] {
            Item::Read { reading, .. } => reading.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        read("characters", "", "ABC"),
        Reading::Characters(vec!['A', 'B', 'C'])
    );
    assert_eq!(
        read("cardinal", "", "-1,234"),
        Reading::Cardinal {
            negative: true,
            value: 1234
        }
    );
    assert_eq!(read("ordinal", "", "21st"), Reading::Ordinal(21));
    assert_eq!(read("digits", "", "0451"), Reading::Digits("0451".into()));
    assert_eq!(
        read("date", " format=\"mdy\"", "3/5/2024"),
        Reading::Date(DateParts {
            year: Some(2024),
            month: Some(3),
            day: Some(5)
        })
    );
    assert_eq!(
        read("time", "", "2:30 pm"),
        Reading::Time {
            hour: 2,
            minute: 30,
            meridiem: Some(Meridiem::Pm)
        }
    );
}

#[test]
fn breaks_read_times_and_strengths() {
    let ms = |attrs: &str| match ok(&format!("<speak>a<break {attrs}/>b</speak>")).items[1] {
        Item::Break { ms } => ms,
        ref other => panic!("{other:?}"),
    };
    assert_eq!(ms("time=\"500ms\""), 500);
    assert_eq!(ms("time=\"1.2s\""), 1200);
    assert_eq!(ms("time=\"5s\""), 5000);
    assert_eq!(ms("strength=\"none\""), 0);
    assert_eq!(ms("strength=\"x-strong\""), 1200);
    assert_eq!(ms(""), 500);
}

#[test]
fn sniffing_and_formats() {
    assert_eq!(InputFormat::sniff("  <speak>hi</speak>"), InputFormat::Ssml);
    assert_eq!(InputFormat::sniff("say <speak>"), InputFormat::Text);
    assert_eq!(InputFormat::parse("SSML", "f").unwrap(), InputFormat::Ssml);
    assert_eq!(
        InputFormat::parse("html", "input_format").unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn line_and_column_count_characters() {
    assert_eq!(line_col("ab\ncé<x", 6), (2, 3));
    assert_eq!(line_col("", 0), (1, 1));
}
