//! The parser proper: quick-xml's events checked against the subset, one element at a time.

use std::ops::Range;

use quick_xml::events::{BytesStart, Event};

use super::chars::{decode, fold_spaces, xml_error};
use super::{
    Boundary, Document, Item, MAX_DEPTH, MAX_ELEMENTS, MAX_TOTAL_BREAK_MS, Reading, Style,
    line_col, short, values,
};
use crate::{Error, ErrorCode, Lang};

pub(super) fn run(source: &str, field: &str) -> Result<Document, Error> {
    Parser {
        src: source,
        field,
        items: Vec::new(),
        stack: Vec::new(),
        elements: 0,
        total_break_ms: 0,
        seen_root: false,
    }
    .run()
}

/// Elements of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Speak,
    P,
    S,
    Break,
    SayAs,
    Sub,
    Phoneme,
    Prosody,
    Lang,
    Emphasis,
}

impl Tag {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "speak" => Self::Speak,
            "p" => Self::P,
            "s" => Self::S,
            "break" => Self::Break,
            "say-as" => Self::SayAs,
            "sub" => Self::Sub,
            "phoneme" => Self::Phoneme,
            "prosody" => Self::Prosody,
            "lang" => Self::Lang,
            "emphasis" => Self::Emphasis,
            _ => return None,
        })
    }

    /// Attributes each element accepts.
    fn attributes(self) -> &'static [&'static str] {
        match self {
            Self::Speak => &["version", "xmlns", "xml:lang"],
            Self::P | Self::S => &["xml:lang"],
            Self::Break => &["time", "strength"],
            Self::SayAs => &["interpret-as", "format"],
            Self::Sub => &["alias"],
            Self::Phoneme => &["alphabet", "ph"],
            Self::Prosody => &["rate"],
            Self::Lang => &["xml:lang"],
            Self::Emphasis => &["level"],
        }
    }

    /// Elements whose content is one written token, replaced as a whole.
    fn text_only(self) -> bool {
        matches!(self, Self::SayAs | Self::Sub | Self::Phoneme)
    }
}

/// An open element.
struct Open {
    tag: Tag,
    name: String,
    at: usize,
    style: Style,
    /// For text-only elements: the replacement, and where its content starts.
    token: Option<(Token, usize)>,
}

/// How a text-only element reads its content.
enum Token {
    Sub(String),
    Phoneme(String),
    SayAs {
        kind: values::SayAsKind,
        format: Option<String>,
    },
}

struct Parser<'a> {
    src: &'a str,
    field: &'a str,
    items: Vec<Item>,
    stack: Vec<Open>,
    elements: usize,
    total_break_ms: u32,
    seen_root: bool,
}

impl Parser<'_> {
    fn err(&self, at: usize, what: impl std::fmt::Display) -> Error {
        let (line, column) = line_col(self.src, at);
        Error::new(
            ErrorCode::InvalidSsml,
            format!(
                "{} is not valid SSML at line {line}, column {column}: {what}",
                self.field
            ),
        )
    }

    fn run(mut self) -> Result<Document, Error> {
        let mut reader = quick_xml::Reader::from_str(self.src);
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.check_end_names = true;
        cfg.check_comments = true;
        loop {
            let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = match reader.read_event() {
                Ok(e) => e,
                Err(e) => {
                    let pos = usize::try_from(reader.error_position()).unwrap_or(at);
                    return Err(self.err(pos.min(self.src.len()), xml_error(&e)));
                }
            };
            let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            match event {
                Event::Start(e) => self.open(&e, at..end, false)?,
                Event::Empty(e) => self.open(&e, at..end, true)?,
                Event::End(_) => self.close(at)?,
                Event::Text(_) | Event::GeneralRef(_) => self.text(at..end)?,
                Event::Comment(_) if self.stack.last().is_some_and(|o| o.token.is_some()) => {
                    return Err(self.err(at, "comments cannot be inside say-as, sub or phoneme"));
                }
                Event::Comment(_) => {}
                Event::Decl(_) if at == self.src.len() - self.src.trim_start().len() => {}
                Event::Decl(_) | Event::PI(_) => {
                    return Err(self.err(at, "processing instructions are not supported"));
                }
                Event::CData(_) => {
                    return Err(self.err(at, "CDATA sections are not supported; escape the text"));
                }
                Event::DocType(_) => {
                    return Err(self.err(at, "document type declarations (DTDs) are not allowed"));
                }
                Event::Eof => break,
            }
        }
        if let Some(open) = self.stack.last() {
            return Err(self.err(open.at, format!("<{}> is never closed", open.name)));
        }
        if !self.seen_root {
            return Err(self.err(0, "the document has no <speak> element"));
        }
        Ok(Document { items: self.items })
    }

    fn open(
        &mut self,
        e: &BytesStart<'_>,
        tag_span: Range<usize>,
        empty: bool,
    ) -> Result<(), Error> {
        let (at, content) = (tag_span.start, tag_span.end);
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let tag = Tag::of(&name).ok_or_else(|| {
            self.err(
                at,
                format!("unknown element <{name}>; supported: speak, p, s, break, say-as, sub, phoneme, prosody, lang, emphasis"),
            )
        })?;
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(self.err(at, format!("more than {MAX_ELEMENTS} elements")));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.err(at, format!("elements are nested deeper than {MAX_DEPTH}")));
        }
        self.check_place(tag, &name, at)?;
        let attrs = self.attributes(e, tag, &name, at)?;
        let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let mut style = self.stack.last().map(|o| o.style).unwrap_or_default();
        if let Some(l) = get("xml:lang") {
            style.lang = Some(Lang::parse(l, "xml:lang").map_err(|_| {
                self.err(
                    at,
                    format!("xml:lang '{}' is not a language Polyvox speaks", short(l)),
                )
            })?);
        } else if tag == Tag::Lang {
            return Err(self.err(at, "<lang> needs an xml:lang attribute"));
        }
        let mut token = None;
        match tag {
            Tag::Speak => self.seen_root = true,
            Tag::P => self.items.push(Item::Boundary(Boundary::Paragraph)),
            Tag::S => self.items.push(Item::Boundary(Boundary::Sentence)),
            Tag::Break => {
                let ms =
                    values::break_ms(get("time"), get("strength")).map_err(|m| self.err(at, m))?;
                self.total_break_ms = self.total_break_ms.saturating_add(ms);
                if self.total_break_ms > MAX_TOTAL_BREAK_MS {
                    return Err(self.err(
                        at,
                        format!(
                            "the breaks add up to more than {} s",
                            MAX_TOTAL_BREAK_MS / 1000
                        ),
                    ));
                }
                self.items.push(Item::Break { ms });
            }
            Tag::Prosody => {
                if let Some(r) = get("rate") {
                    style.rate *= values::rate(r).map_err(|m| self.err(at, m))?;
                }
            }
            Tag::Emphasis => {
                // Kokoro has no emphasis control: the level is checked, the text read as is.
                if let Some(l) = get("level")
                    && !matches!(l, "strong" | "moderate" | "none" | "reduced")
                {
                    return Err(self.err(
                        at,
                        format!(
                            "emphasis level '{}' is not strong, moderate, none or reduced",
                            short(l)
                        ),
                    ));
                }
            }
            Tag::Sub => {
                let alias =
                    get("alias").ok_or_else(|| self.err(at, "<sub> needs an alias attribute"))?;
                if !alias.chars().any(char::is_alphanumeric) {
                    return Err(self.err(at, "<sub> alias has nothing to speak"));
                }
                token = Some(Token::Sub(alias.to_owned()));
            }
            Tag::Phoneme => {
                if let Some(a) = get("alphabet")
                    && a != "ipa"
                {
                    return Err(self.err(
                        at,
                        format!("phoneme alphabet '{}' is not supported; use ipa", short(a)),
                    ));
                }
                let ph = get("ph").ok_or_else(|| self.err(at, "<phoneme> needs a ph attribute"))?;
                token = Some(Token::Phoneme(
                    values::phonemes(ph).map_err(|m| self.err(at, m))?,
                ));
            }
            Tag::SayAs => {
                let kind = get("interpret-as")
                    .ok_or_else(|| self.err(at, "<say-as> needs an interpret-as attribute"))?;
                let kind = values::SayAsKind::parse(kind).map_err(|m| self.err(at, m))?;
                let format = get("format").map(str::to_owned);
                if format.is_some() && kind != values::SayAsKind::Date {
                    return Err(self.err(at, "say-as format applies only to interpret-as date"));
                }
                token = Some(Token::SayAs { kind, format });
            }
            Tag::Lang => {}
        }
        if empty {
            if tag.text_only() {
                return Err(self.err(
                    at,
                    format!("<{name}/> is empty: it needs the written text inside"),
                ));
            }
            self.end(tag, at);
            return Ok(());
        }
        self.stack.push(Open {
            tag,
            name,
            at,
            style,
            token: token.map(|t| (t, content)),
        });
        Ok(())
    }

    /// Where each element may appear.
    fn check_place(&self, tag: Tag, name: &str, at: usize) -> Result<(), Error> {
        let parent = self.stack.last().map(|o| o.tag);
        let inside = |t: Tag| self.stack.iter().any(|o| o.tag == t);
        let bad = match (tag, parent) {
            (Tag::Speak, None) if !self.seen_root => None,
            (Tag::Speak, _) => Some("<speak> must be the one root element".to_string()),
            (_, None) => Some(format!("<{name}> is outside <speak>")),
            (_, Some(p)) if p.text_only() => {
                Some(format!("<{name}> cannot be inside <{}>", tag_name(p)))
            }
            (_, Some(Tag::Break)) => Some("<break> cannot contain anything".into()),
            (Tag::P, _) if inside(Tag::P) || inside(Tag::S) || parent != Some(Tag::Speak) => {
                Some("<p> can only be directly inside <speak>".into())
            }
            (Tag::S, _) if inside(Tag::S) || !matches!(parent, Some(Tag::Speak | Tag::P)) => {
                Some("<s> can only be directly inside <speak> or <p>".into())
            }
            _ => None,
        };
        match bad {
            Some(m) => Err(self.err(at, m)),
            None => Ok(()),
        }
    }

    fn attributes(
        &self,
        e: &BytesStart<'_>,
        tag: Tag,
        name: &str,
        at: usize,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut out = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| self.err(at, format!("malformed attribute: {err}")))?;
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            if !tag.attributes().contains(&key.as_str()) {
                return Err(self.err(
                    at,
                    format!(
                        "unknown attribute '{}' on <{name}>; it accepts: {}",
                        short(&key),
                        tag.attributes().join(", ")
                    ),
                ));
            }
            let raw = std::str::from_utf8(&a.value)
                .map_err(|_| self.err(at, "attribute value is not UTF-8"))?;
            let (value, _) = decode(raw, 0).map_err(|(_, m)| self.err(at, m))?;
            out.push((key, value.trim().to_owned()));
        }
        Ok(out)
    }

    fn close(&mut self, at: usize) -> Result<(), Error> {
        let open = self
            .stack
            .pop()
            .ok_or_else(|| self.err(at, "closing tag without an open element"))?;
        if let Some((token, content)) = open.token {
            let raw = &self.src[content..at];
            let lead = raw.len() - raw.trim_start().len();
            let span = content + lead..content + raw.trim_end().len();
            let (text, _) = decode(raw, content).map_err(|(off, m)| self.err(off, m))?;
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if text.is_empty() {
                return Err(self.err(
                    open.at,
                    format!("<{}> is empty: it needs the written text inside", open.name),
                ));
            }
            let reading = match token {
                Token::Sub(alias) => Reading::Alias(alias),
                Token::Phoneme(ph) => Reading::Phonemes(ph),
                Token::SayAs { kind, format } => values::say_as(kind, format.as_deref(), &text)
                    .map_err(|m| self.err(span.start, m))?,
            };
            self.items.push(Item::Read {
                reading,
                span,
                style: open.style,
            });
        }
        self.end(open.tag, at);
        Ok(())
    }

    fn end(&mut self, tag: Tag, _at: usize) {
        match tag {
            Tag::P => self.items.push(Item::Boundary(Boundary::Paragraph)),
            Tag::S => self.items.push(Item::Boundary(Boundary::Sentence)),
            _ => {}
        }
    }

    /// Character data (or one entity reference) at `range` of the source.
    fn text(&mut self, range: Range<usize>) -> Result<(), Error> {
        let raw = &self.src[range.clone()];
        let Some(open) = self.stack.last() else {
            if raw.trim().is_empty() {
                return Ok(());
            }
            let lead = raw.len() - raw.trim_start().len();
            return Err(self.err(range.start + lead, "text outside <speak>"));
        };
        if open.token.is_some() {
            // Read as a whole when the element closes; still decoded now for its errors.
            decode(raw, range.start).map_err(|(off, m)| self.err(off, m))?;
            return Ok(());
        }
        if open.tag == Tag::Break {
            if raw.trim().is_empty() {
                return Ok(());
            }
            return Err(self.err(range.start, "<break> cannot contain text"));
        }
        let style = open.style;
        let (text, src) = decode(raw, range.start).map_err(|(off, m)| self.err(off, m))?;
        // Adjacent text and references are one piece, so "AT&amp;T" stays one word.
        if let Some(Item::Text {
            text: t,
            src: s,
            style: st,
        }) = self.items.last_mut()
            && *st == style
            && s.last() == Some(&range.start)
        {
            s.pop();
            t.push_str(&text);
            s.extend(src);
            fold_spaces(t, s);
            return Ok(());
        }
        let (mut text, mut src) = (text, src);
        fold_spaces(&mut text, &mut src);
        self.items.push(Item::Text { text, src, style });
        Ok(())
    }
}

fn tag_name(t: Tag) -> &'static str {
    match t {
        Tag::SayAs => "say-as",
        Tag::Sub => "sub",
        Tag::Phoneme => "phoneme",
        Tag::Speak => "speak",
        Tag::P => "p",
        Tag::S => "s",
        Tag::Break => "break",
        Tag::Prosody => "prosody",
        Tag::Lang => "lang",
        Tag::Emphasis => "emphasis",
    }
}
