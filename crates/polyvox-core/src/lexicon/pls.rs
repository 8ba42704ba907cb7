//! W3C Pronunciation Lexicon Specification (PLS 1.0) documents → [`RawLexicon`].
//!
//! The subset read: `<lexicon xml:lang=".." alphabet="ipa">` holding `<lexeme>`s, each with one or
//! more `<grapheme>`s and its readings, `<phoneme>` (optionally with its own `alphabet`) or
//! `<alias>`. PLS lists a lexeme's preferred reading first, so the first one is taken and the
//! others are ignored; every grapheme of a lexeme becomes one entry with that reading. Only the
//! `ipa` alphabet is accepted: any other one would be read as if it were IPA, which is never
//! what the author meant. Other elements (`<meta>`, `<metadata>`, `<example>`) are skipped with
//! their content. A malformed document is an `invalid_lexicon` error naming the line and column.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{RawEntry, RawLexicon};
use crate::{Error, ErrorCode};

/// Line and column (from 1, in characters) of byte `pos` of `doc`.
fn line_col(doc: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(doc.len());
    let before = doc.get(..pos).unwrap_or(doc);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

fn err(doc: &str, pos: u64, what: impl std::fmt::Display) -> Error {
    let (line, col) = line_col(doc, usize::try_from(pos).unwrap_or(usize::MAX));
    Error::new(
        ErrorCode::InvalidLexicon,
        format!("PLS document, line {line}, column {col}: {what}"),
    )
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        if a.key.as_ref() == name {
            return Ok(Some(
                a.unescape_value().map_err(|e| e.to_string())?.into_owned(),
            ));
        }
    }
    Ok(None)
}

fn check_alphabet(alphabet: Option<String>) -> Result<(), String> {
    match alphabet.as_deref().map(str::trim) {
        None => Ok(()),
        Some(a) if a.eq_ignore_ascii_case("ipa") => Ok(()),
        Some(a) => Err(format!(
            "alphabet '{}' is not supported; use ipa",
            a.chars().take(32).collect::<String>()
        )),
    }
}

#[derive(Default)]
struct Lexeme {
    graphemes: Vec<String>,
    reading: Option<(bool, String)>,
}

/// Parses a PLS document into the same raw form a JSON body has.
pub fn parse(doc: &str) -> Result<RawLexicon, Error> {
    let mut reader = Reader::from_str(doc);
    reader.config_mut().check_end_names = true;
    let mut lang = None;
    let mut entries = Vec::new();
    let mut seen_root = false;
    let mut lexeme: Option<Lexeme> = None;
    // The element whose text is being collected: grapheme, phoneme (true) or alias (false).
    let mut open: Option<(Field, String)> = None;
    // Depth inside an element we skip (meta, example, ...).
    let mut skip = 0usize;
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| err(doc, reader.error_position(), e))?;
        match event {
            Event::Eof => break,
            Event::Start(e) if skip > 0 => {
                let _ = e;
                skip += 1;
            }
            Event::End(_) if skip > 0 => skip -= 1,
            _ if skip > 0 => {}
            Event::Start(e) | Event::Empty(e) if !seen_root => {
                if e.local_name().as_ref() != b"lexicon" {
                    return Err(err(doc, pos, "the root element must be <lexicon>"));
                }
                seen_root = true;
                check_alphabet(attr(&e, b"alphabet").map_err(|m| err(doc, pos, m))?)
                    .map_err(|m| err(doc, pos, m))?;
                lang = attr(&e, b"xml:lang").map_err(|m| err(doc, pos, m))?;
            }
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                match (name.as_slice(), &mut lexeme, &open) {
                    (b"lexeme", None, None) => lexeme = Some(Lexeme::default()),
                    (b"grapheme", Some(_), None) => open = Some((Field::Grapheme, String::new())),
                    (b"phoneme", Some(_), None) => {
                        check_alphabet(attr(&e, b"alphabet").map_err(|m| err(doc, pos, m))?)
                            .map_err(|m| err(doc, pos, m))?;
                        open = Some((Field::Phoneme, String::new()));
                    }
                    (b"alias", Some(_), None) => open = Some((Field::Alias, String::new())),
                    (b"lexeme" | b"grapheme" | b"phoneme" | b"alias", _, _) => {
                        return Err(err(
                            doc,
                            pos,
                            format!("<{}> is not allowed here", String::from_utf8_lossy(&name)),
                        ));
                    }
                    _ if open.is_some() => {
                        return Err(err(doc, pos, "markup inside a grapheme, phoneme or alias"));
                    }
                    _ => skip = 1,
                }
            }
            Event::Empty(_) if open.is_some() => {
                return Err(err(doc, pos, "markup inside a grapheme, phoneme or alias"));
            }
            Event::Empty(_) => {}
            Event::Text(t) => {
                if let Some((_, buf)) = &mut open {
                    buf.push_str(&t.decode().map_err(|e| err(doc, pos, e))?);
                }
            }
            Event::CData(t) => {
                if let Some((_, buf)) = &mut open {
                    buf.push_str(&t.decode().map_err(|e| err(doc, pos, e))?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, buf)) = &mut open {
                    let c = match r.resolve_char_ref().map_err(|e| err(doc, pos, e))? {
                        Some(c) => c.to_string(),
                        None => {
                            let name = r.decode().map_err(|e| err(doc, pos, e))?;
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| err(doc, pos, format!("unknown entity &{name};")))?
                                .to_string()
                        }
                    };
                    buf.push_str(&c);
                }
            }
            Event::End(e) => {
                if let Some((field, text)) = open.take() {
                    let lx = lexeme.as_mut().ok_or_else(|| err(doc, pos, "stray text"))?;
                    match field {
                        Field::Grapheme => lx.graphemes.push(text),
                        Field::Phoneme if lx.reading.is_none() => lx.reading = Some((true, text)),
                        Field::Alias if lx.reading.is_none() => lx.reading = Some((false, text)),
                        _ => {}
                    }
                } else if e.local_name().as_ref() == b"lexeme" {
                    let lx = lexeme.take().unwrap_or_default();
                    let Some((is_phoneme, reading)) = lx.reading else {
                        return Err(err(doc, pos, "a <lexeme> without <phoneme> or <alias>"));
                    };
                    if lx.graphemes.is_empty() {
                        return Err(err(doc, pos, "a <lexeme> without <grapheme>"));
                    }
                    for g in lx.graphemes {
                        entries.push(RawEntry {
                            grapheme: g,
                            phoneme: is_phoneme.then(|| reading.clone()),
                            alias: (!is_phoneme).then(|| reading.clone()),
                            lang: None,
                        });
                    }
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::DocType(_) => {
                // Entities a DTD declares are not expanded; refusing DTDs avoids guessing.
                return Err(err(doc, pos, "a DOCTYPE is not accepted"));
            }
        }
    }
    if !seen_root {
        return Err(err(doc, 0, "no <lexicon> element"));
    }
    Ok(RawLexicon { lang, entries })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Grapheme,
    Phoneme,
    Alias,
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"
      alphabet="ipa" xml:lang="en-US">
  <meta name="author" content="us"/>
  <lexeme>
    <grapheme>W3C</grapheme>
    <alias>World Wide Web Consortium</alias>
  </lexeme>
  <lexeme>
    <grapheme>Polyvox</grapheme>
    <grapheme>PolyVox</grapheme>
    <phoneme>pˈɑlivɑks</phoneme>
    <phoneme>ignored</phoneme>
  </lexeme>
  <lexeme><grapheme>AT&amp;T</grapheme><alias>A T &amp; T</alias></lexeme>
</lexicon>"#;

    #[test]
    fn reads_graphemes_and_first_readings() {
        let raw = parse(DOC).expect("valid PLS");
        assert_eq!(raw.lang.as_deref(), Some("en-US"));
        let got: Vec<(&str, Option<&str>, Option<&str>)> = raw
            .entries
            .iter()
            .map(|e| (e.grapheme.trim(), e.phoneme.as_deref(), e.alias.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("W3C", None, Some("World Wide Web Consortium")),
                ("Polyvox", Some("pˈɑlivɑks"), None),
                ("PolyVox", Some("pˈɑlivɑks"), None),
                ("AT&T", None, Some("A T & T")),
            ]
        );
        let lex = raw
            .validate("brand", &super::super::LexiconLimits::default())
            .expect("valid lexicon");
        assert_eq!(lex.lang, Some(crate::Lang::EnUs));
    }

    #[test]
    fn malformed_documents_name_the_position() {
        for (doc, needle) in [
            ("<lexicon><lexeme><grapheme>a</lexeme></lexicon>", "line 1"),
            (
                "<lexicon>\n<lexeme><grapheme>a</grapheme></lexeme></lexicon>",
                "line 2",
            ),
            ("<speak/>", "root element"),
            (r#"<lexicon alphabet="x-sampa"/>"#, "alphabet 'x-sampa'"),
            (
                "<lexicon><lexeme><grapheme>a<b/></grapheme><alias>b</alias></lexeme></lexicon>",
                "markup inside",
            ),
            ("<!DOCTYPE x [<!ENTITY e \"boom\">]><lexicon/>", "DOCTYPE"),
            ("", "no <lexicon>"),
        ] {
            let e = parse(doc).expect_err(doc);
            assert_eq!(e.code, ErrorCode::InvalidLexicon, "{doc}");
            assert!(e.message.contains("PLS document, line"), "{}", e.message);
            assert!(e.message.contains(needle), "{doc}: {}", e.message);
        }
    }
}
