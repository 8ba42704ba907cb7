//! English text normalization: raw text → a sequence of things to say ([`Token`]s), each tied to
//! the byte span of the input it came from.
//!
//! Design: the input is cut at whitespace into pieces; each piece is peeled into leading
//! punctuation, a core and trailing punctuation (a trailing dot stays with the core when it ends an
//! abbreviation such as `Dr.` or `U.S.`). Cores are read by the first rule that matches: numeric
//! forms (currency, percent, times, dates, ordinals, units, ranges, plain numbers), URLs and e-mail
//! addresses, abbreviations, and finally a general sub-tokenizer (letter runs, digit runs,
//! symbols). A rule may look at neighbouring pieces ("March 5", "5 March") and may consume the next
//! piece ("$5 million", "3:30 pm", "5 km").
//!
//! Spans are the contract with the chunker: tokens come out in input order, and tokens that
//! share one span (the words of "$5.50") are one unit that is never split. Every piece of a long
//! run (digits, letters) gets its own sub-span so even a 10,000-character token can be chunked.

mod address;
pub(crate) mod calendar;
pub(crate) mod numbers;
mod numeric;
mod tables;
#[cfg(test)]
mod tests;
mod words;

use std::ops::Range;

use polyvox_core::Lang;

/// Whitespace before a token, which decides spacing and pauses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gap {
    /// Directly attached to the previous token (or the start of the text).
    #[default]
    None,
    /// Spaces or tabs.
    Space,
    /// One line break.
    Line,
    /// A blank line: a new paragraph.
    Paragraph,
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A word to look up (original spelling and case, or a word this module produced).
    Word(String),
    /// Letters to read one by one (acronyms, `a.m.`, initials).
    Spell(String),
    /// A fixed reading in Kokoro phonemes, for the few words the lexicon lacks.
    Phonemes(String),
    /// A punctuation mark Kokoro knows: , ; : . ! ? — … " ( ) “ ”
    Punct(char),
}

/// One normalized token with the input span it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What to say.
    pub kind: TokenKind,
    /// Byte range of the input this token reads. Tokens that read the same input share it.
    pub span: Range<usize>,
    /// Whitespace before the token in the input.
    pub gap: Gap,
}

impl Token {
    /// Whether this token is a punctuation mark (a pause), not something spoken.
    pub fn is_punct(&self) -> bool {
        matches!(self.kind, TokenKind::Punct(_))
    }
}

/// Normalizes English text (`lang` picks US or British number reading and spelling).
pub fn normalize(text: &str, lang: Lang) -> Vec<Token> {
    let cx = Cx {
        text,
        raws: split(text),
        british: lang == Lang::EnGb,
    };
    let mut out = Out::default();
    let mut i = 0;
    while i < cx.raws.len() {
        let raw = &cx.raws[i];
        out.gap = raw.gap;
        let bare = raw.core.is_empty();
        out.puncts(text, raw.lead.clone(), bare);
        let consumed = if bare { 0 } else { classify(&cx, i, &mut out) };
        let last = &cx.raws[(i + consumed).min(cx.raws.len() - 1)];
        out.puncts(text, last.trail.clone(), bare);
        i += 1 + consumed;
    }
    tidy(out.tokens)
}

/// The normalized text as a readable string ("five dollars fifty cents."): words separated by
/// spaces, spelled letters in capitals, punctuation attached. For tests and debugging.
pub fn spoken(text: &str, lang: Lang) -> String {
    let tokens = normalize(text, lang);
    let mut s = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 && needs_space(&tokens[i - 1], t) {
            s.push(' ');
        }
        match &t.kind {
            TokenKind::Word(w) => s.push_str(w),
            TokenKind::Spell(l) => s.push_str(&l.to_uppercase()),
            TokenKind::Phonemes(p) => s.push_str(&format!("/{p}/")),
            TokenKind::Punct(c) => s.push(*c),
        }
    }
    s
}

/// Whether a space separates `cur` from `prev` in the phoneme string: always between words,
/// never before closing or clause punctuation, never after an opening bracket or quote.
pub(crate) fn needs_space(prev: &Token, cur: &Token) -> bool {
    match (&prev.kind, &cur.kind) {
        (_, TokenKind::Punct(c)) if ",.;:!?…)”".contains(*c) => false,
        (_, TokenKind::Punct(_)) => cur.gap != Gap::None,
        (TokenKind::Punct('(' | '“'), _) => false,
        (TokenKind::Punct('"' | '—'), _) => cur.gap != Gap::None,
        _ => true,
    }
}

/// One whitespace-separated piece of the input, as byte ranges.
#[derive(Debug, Clone)]
struct Raw {
    gap: Gap,
    lead: Range<usize>,
    core: Range<usize>,
    trail: Range<usize>,
}

/// What the rules can see: the text, all pieces, the accent.
struct Cx<'a> {
    text: &'a str,
    raws: Vec<Raw>,
    british: bool,
}

impl Cx<'_> {
    fn core(&self, i: usize) -> Option<&str> {
        self.raws
            .get(i)
            .map(|r| &self.text[r.core.clone()])
            .filter(|c| !c.is_empty())
    }

    fn span(&self, i: usize) -> Range<usize> {
        self.raws.get(i).map(|r| r.core.clone()).unwrap_or(0..0)
    }

    /// Whether piece `i` ends with a dot taken for an abbreviation that also ends the sentence:
    /// nothing follows, or the next piece starts a line or a capitalized word.
    fn dot_ends_sentence(&self, i: usize) -> bool {
        let (Some(core), Some(raw)) = (self.core(i), self.raws.get(i)) else {
            return false;
        };
        let next = self.raws.get(i + 1);
        core.ends_with('.')
            && raw.trail.is_empty()
            && next.is_none_or(|n| {
                n.gap >= Gap::Line
                    || self.text[n.lead.start..].starts_with(|c: char| c.is_uppercase())
            })
    }

    /// Whether piece `i + 1` directly continues piece `i` (same line, no punctuation between),
    /// so a rule may read both as one ("$5 million").
    fn joinable(&self, i: usize) -> bool {
        match (self.raws.get(i), self.raws.get(i + 1)) {
            (Some(a), Some(b)) => {
                a.trail.is_empty() && b.lead.is_empty() && b.gap == Gap::Space && !b.core.is_empty()
            }
            _ => false,
        }
    }
}

/// Token sink; the first token after a gap carries it.
#[derive(Default)]
pub(crate) struct Out {
    tokens: Vec<Token>,
    gap: Gap,
}

impl Out {
    fn push(&mut self, kind: TokenKind, span: Range<usize>) {
        let gap = std::mem::replace(&mut self.gap, Gap::None);
        self.tokens.push(Token { kind, span, gap });
    }

    fn word(&mut self, w: impl Into<String>, span: Range<usize>) {
        self.push(TokenKind::Word(w.into()), span);
    }

    fn words<S: Into<String>>(&mut self, ws: impl IntoIterator<Item = S>, span: Range<usize>) {
        for w in ws {
            self.word(w, span.clone());
        }
    }

    fn spell(&mut self, letters: impl Into<String>, span: Range<usize>) {
        self.push(TokenKind::Spell(letters.into()), span);
    }

    fn punct(&mut self, c: char, span: Range<usize>) {
        self.push(TokenKind::Punct(c), span);
    }

    /// Emits the punctuation in `range`; `bare` when the piece is punctuation only, so a lone
    /// hyphen is a dash (a pause) rather than a silent joiner.
    fn puncts(&mut self, text: &str, range: Range<usize>, bare: bool) {
        for (i, c) in text[range.clone()].char_indices() {
            let at = range.start + i;
            if let Some(p) = punct_of(c, bare) {
                self.punct(p, at..at + c.len_utf8());
            } else if bare && let Some(ws) = tables::symbol(c, None) {
                self.words(ws.iter().copied(), at..at + c.len_utf8());
            }
        }
    }
}

/// The vocabulary punctuation a character stands for, if any.
pub(crate) fn punct_of(c: char, bare: bool) -> Option<char> {
    Some(match c {
        '(' | '[' | '{' => '(',
        ')' | ']' | '}' => ')',
        '"' => '"',
        '“' | '„' | '«' => '“',
        '”' | '»' => '”',
        ',' | '，' | '、' => ',',
        ';' | '；' => ';',
        ':' | '：' => ':',
        '.' | '。' => '.',
        '!' | '！' => '!',
        '?' | '？' => '?',
        '…' => '…',
        '—' | '–' | '―' => '—',
        '-' | '‐' | '−' if bare => '—',
        _ => return None,
    })
}

fn is_lead(c: char, next: Option<char>) -> bool {
    let next_digit = next.is_some_and(|n| n.is_ascii_digit());
    // A sign or a dot before a number or an amount is part of it ("-5", "-$5", ".5").
    let next_amount =
        next_digit || next.is_some_and(|n| matches!(n, '$' | '£' | '€' | '¥' | '₹' | '.'));
    match c {
        '\'' | '‘' => !next_digit,
        '-' | '−' | '.' => !next_amount,
        '(' | '[' | '{' | '"' | '“' | '„' | '«' | '¿' | '¡' | '*' | '_' | '~' | '`' | '<' | '‹'
        | '‚' | '—' | '–' | '…' => true,
        _ => false,
    }
}

fn is_trail(c: char) -> bool {
    matches!(
        c,
        ')' | ']'
            | '}'
            | '"'
            | '”'
            | '’'
            | '\''
            | '»'
            | '›'
            | ','
            | ';'
            | ':'
            | '.'
            | '!'
            | '?'
            | '…'
            | '*'
            | '_'
            | '~'
            | '`'
            | '—'
            | '–'
            | '-'
            | '，'
            | '、'
            | '；'
            | '：'
            | '。'
            | '！'
            | '？'
    )
}

/// Cuts the text at whitespace and peels each piece.
fn split(text: &str) -> Vec<Raw> {
    let mut raws = Vec::new();
    let mut newlines = 0usize;
    let mut start: Option<usize> = None;
    let mut gap = Gap::None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                raws.push(peel(text, s..i, gap));
                newlines = 0;
            }
            newlines += usize::from(c == '\n');
        } else if start.is_none() {
            start = Some(i);
            gap = match (raws.is_empty(), newlines) {
                (true, _) => Gap::None,
                (_, 0) => Gap::Space,
                (_, 1) => Gap::Line,
                _ => Gap::Paragraph,
            };
        }
    }
    // A trailing dot belongs to the core when it ends an abbreviation; that needs the next piece.
    for k in 0..raws.len() {
        let r = &raws[k];
        if text[r.trail.clone()].starts_with('.') {
            let next = raws.get(k + 1).map(|n| &text[n.lead.start..n.trail.end]);
            if words::takes_dot(&text[r.core.clone()], next) {
                let r = &mut raws[k];
                r.core.end += 1;
                r.trail.start += 1;
            }
        }
    }
    raws
}

fn peel(text: &str, piece: Range<usize>, gap: Gap) -> Raw {
    let s = &text[piece.clone()];
    let mut lead_end = 0;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if !is_lead(c, it.peek().map(|p| p.1)) {
            break;
        }
        lead_end = i + c.len_utf8();
    }
    let mut trail_start = s.len();
    for (i, c) in s.char_indices().rev() {
        if i < lead_end || !is_trail(c) {
            break;
        }
        trail_start = i;
    }
    let at = piece.start;
    Raw {
        gap,
        lead: at..at + lead_end,
        core: at + lead_end..at + trail_start,
        trail: at + trail_start..piece.end,
    }
}

fn classify(cx: &Cx, i: usize, out: &mut Out) -> usize {
    if let Some(consumed) = numeric::read(cx, i, out) {
        return consumed;
    }
    let (Some(core), span) = (cx.core(i), cx.span(i)) else {
        return 0;
    };
    if address::url_or_email(core, span.start, cx.british, out) || words::abbreviation(cx, i, out) {
        return 0;
    }
    words::general(core, span.start, cx.british, out);
    0
}

/// Merges runs of attached punctuation: `...` and `. . .` → `…`, `!!!` → `!`, `--` → `—`.
fn tidy(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    for t in tokens {
        if let (Some(prev), TokenKind::Punct(c)) = (out.last_mut(), &t.kind)
            && let TokenKind::Punct(p) = prev.kind
            && ((t.gap == Gap::None && prev.span.end == t.span.start)
                || (matches!(p, '.' | '…') && *c == '.' && t.gap == Gap::Space))
        {
            let merged = match (p, *c) {
                ('.' | '…', '.' | '…') => Some('…'),
                (a, b) if a == b => Some(a),
                _ => None,
            };
            if let Some(m) = merged {
                prev.kind = TokenKind::Punct(m);
                prev.span.end = t.span.end;
                continue;
            }
        }
        out.push(t);
    }
    out
}
