//! Grapheme-to-phoneme: normalized tokens → Kokoro phoneme segments.
//!
//! Order of resort for a word: the lexicon (with case variants and suffix rules), camelCase parts
//! from the lexicon, letter spelling for all-caps acronyms, espeak-ng (all out-of-lexicon words of a
//! call in one process), and finally letter spelling. Function words whose reading depends on
//! the next word ("the" before a vowel, "to", "a") are resolved last, right to left, the way
//! misaki uses its future-vowel context. Without a POS tagger, the previous word gives a cheap
//! tag guess for the few hundred heteronyms ("to live" vs "live music").
//!
//! Output symbols are filtered through the vocabulary, so a segment's phonemes are ids one to one.

use std::ops::Range;

use crate::espeak::{self, Espeak};
use crate::lexicon::{Lexicon, Tag, WordCtx};
use crate::normalize::{Gap, Token, TokenKind, needs_space};
use crate::vocab::Vocab;

/// One token's phonemes, tied to the input span it reads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seg {
    pub span: Range<usize>,
    /// Kokoro symbols, all in the vocabulary; never empty.
    pub phonemes: String,
    /// The punctuation mark, for punctuation segments.
    pub punct: Option<char>,
    pub gap: Gap,
    /// Whether a space separates this segment from the previous one.
    pub space_before: bool,
}

const VOWELS: &str = "AIOQWYaiuæɑɒɔəɛɜɪʊʌᵻ";
const CONSONANTS: &str = "bdfhjklmnpstvwzðŋɡɹɾʃʒʤʧθTʔ";

/// Everything G2P needs for one call.
pub(crate) struct G2p<'a> {
    pub lexicon: &'a Lexicon,
    pub espeak: Option<&'a Espeak>,
    pub vocab: &'a Vocab,
    pub british: bool,
}

impl G2p<'_> {
    pub(crate) fn segments(&self, tokens: &[Token]) -> Vec<Seg> {
        let mut ps: Vec<Option<String>> = vec![None; tokens.len()];
        let mut oov: Vec<usize> = Vec::new();
        for (k, t) in tokens.iter().enumerate() {
            ps[k] = match &t.kind {
                TokenKind::Punct(c) => Some(c.to_string()),
                TokenKind::Phonemes(p) => Some(p.clone()),
                TokenKind::Spell(letters) => self.lexicon.spell(letters),
                TokenKind::Word(w) if is_function_word(w) => None,
                TokenKind::Word(w) => {
                    let ctx = WordCtx {
                        tag: guess_tag(prev_word(tokens, k)),
                        at_end: at_end(tokens, k),
                    };
                    let found = self
                        .lexicon
                        .word(w, ctx)
                        .or_else(|| self.camel(w))
                        .or_else(|| self.acronym(w));
                    if found.is_none() {
                        oov.push(k);
                    }
                    found
                }
            };
        }
        self.out_of_lexicon(tokens, &oov, &mut ps);
        for k in (0..tokens.len()).rev() {
            if let TokenKind::Word(w) = &tokens[k].kind
                && is_function_word(w)
            {
                ps[k] = self.function_word(w, tokens, &ps, k);
            }
        }
        let mut segs: Vec<Seg> = Vec::with_capacity(tokens.len());
        let mut prev: Option<&Token> = None;
        for (t, p) in tokens.iter().zip(ps) {
            // Kokoro v1.0 was trained on misaki's pre-2.0 symbols: flap and glottal stop as T and t.
            let phonemes = self
                .vocab
                .filter(&p.unwrap_or_default().replace('ɾ', "T").replace('ʔ', "t"));
            let phonemes = phonemes.trim();
            if phonemes.is_empty() {
                continue;
            }
            segs.push(Seg {
                span: t.span.clone(),
                phonemes: phonemes.to_owned(),
                punct: if let TokenKind::Punct(c) = t.kind {
                    Some(c)
                } else {
                    None
                },
                gap: t.gap,
                space_before: prev.is_some_and(|p| needs_space(p, t)),
            });
            prev = Some(t);
        }
        segs
    }

    /// `JavaScript`, `iPhone`: every camelCase part from the lexicon, or nothing.
    fn camel(&self, word: &str) -> Option<String> {
        let mut parts = Vec::new();
        let mut start = 0;
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        for w in chars.windows(2) {
            if w[0].1.is_lowercase() && w[1].1.is_uppercase() {
                parts.push(&word[start..w[1].0]);
                start = w[1].0;
            }
        }
        parts.push(&word[start..]);
        if parts.len() < 2 {
            return None;
        }
        parts
            .iter()
            .map(|p| self.lexicon.word(p, WordCtx::default()))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.concat())
    }

    /// All-caps words the lexicon lacks are acronyms: spell them (`HTTPS`).
    fn acronym(&self, word: &str) -> Option<String> {
        let letters = word.chars().filter(|c| c.is_alphabetic()).count();
        if letters >= 2 && word.chars().all(|c| c.is_uppercase() || !c.is_alphabetic()) {
            self.lexicon.spell(word)
        } else {
            None
        }
    }

    /// espeak-ng for every unknown word at once (when available); spelling for what remains.
    fn out_of_lexicon(&self, tokens: &[Token], oov: &[usize], ps: &mut [Option<String>]) {
        let words: Vec<String> = oov
            .iter()
            .filter_map(|&k| match &tokens[k].kind {
                TokenKind::Word(w) => Some(w.replace(['’', 'ʼ'], "'")),
                _ => None,
            })
            .collect();
        if let Some(espeak) = self.espeak
            && words.iter().any(|w| espeak::sendable(w))
        {
            let ipa = espeak.ipa(&words, self.british);
            for (&k, ipa) in oov.iter().zip(ipa) {
                ps[k] = ipa
                    .map(|i| self.vocab.filter(&espeak::ipa_to_kokoro(&i, self.british)))
                    .filter(|p| !p.trim().is_empty());
            }
        }
        for (&k, w) in oov.iter().zip(&words) {
            if ps[k].is_none() {
                ps[k] = self.lexicon.spell(w);
            }
        }
    }

    /// Readings that depend on what follows (misaki's special cases).
    fn function_word(
        &self,
        w: &str,
        tokens: &[Token],
        ps: &[Option<String>],
        k: usize,
    ) -> Option<String> {
        let next = tokens.get(k + 1);
        let next_vowel = match next.map(|t| &t.kind) {
            Some(TokenKind::Word(_) | TokenKind::Spell(_) | TokenKind::Phonemes(_)) => ps[k + 1]
                .as_deref()
                .and_then(|p| {
                    p.chars()
                        .find(|c| VOWELS.contains(*c) || CONSONANTS.contains(*c))
                })
                .map(|c| VOWELS.contains(c)),
            _ => None,
        };
        let next_word = match next.map(|t| &t.kind) {
            Some(TokenKind::Word(n)) => Some(n.as_str()),
            _ => None,
        };
        let lex = |word: &str, at_end: bool| self.lexicon.word(word, WordCtx { tag: None, at_end });
        Some(match w {
            "a" => "ɐ".into(),
            // "A dog" is the article; "plan A" and "A." are the letter.
            "A" if next_word.is_some_and(|n| n.starts_with(char::is_lowercase)) => "ɐ".into(),
            "A" => "ˈA".into(),
            "an" | "An" => "ɐn".into(),
            "I" => "ˌI".into(),
            "the" | "The" | "THE" => if next_vowel == Some(true) {
                "ði"
            } else {
                "ðə"
            }
            .into(),
            "to" | "To" => match next_vowel {
                None => return lex("to", true),
                Some(true) => "tʊ".into(),
                Some(false) => "tə".into(),
            },
            "in" | "In" => if next_vowel.is_none() { "ˈɪn" } else { "ɪn" }.into(),
            "am" => match next_vowel {
                None => return lex("am", true),
                Some(_) => "ɐm".into(),
            },
            _ => {
                // "used to" is /just/; "used cars" is /juzd/.
                let tag = next_word
                    .filter(|n| n.eq_ignore_ascii_case("to"))
                    .map(|_| Tag::Vbd);
                return self.lexicon.word(
                    w,
                    WordCtx {
                        tag,
                        at_end: next_vowel.is_none(),
                    },
                );
            }
        })
    }
}

fn is_function_word(w: &str) -> bool {
    matches!(
        w,
        "a" | "A"
            | "an"
            | "An"
            | "I"
            | "the"
            | "The"
            | "THE"
            | "to"
            | "To"
            | "in"
            | "In"
            | "am"
            | "used"
            | "Used"
    )
}

/// The word right before token `k`, if nothing but a space separates them.
fn prev_word(tokens: &[Token], k: usize) -> Option<&str> {
    match tokens.get(k.checked_sub(1)?).map(|t| &t.kind) {
        Some(TokenKind::Word(w)) => Some(w),
        _ => None,
    }
}

/// Whether a pause or the end of the text follows token `k` (misaki's "no future vowel").
fn at_end(tokens: &[Token], k: usize) -> bool {
    match tokens.get(k + 1).map(|t| &t.kind) {
        None => true,
        Some(TokenKind::Punct(c)) => !"\"“”(".contains(*c),
        _ => false,
    }
}

/// A cheap part-of-speech guess from the previous word: enough to pick between the readings of
/// heteronyms (live, read, record, close, ...).
fn guess_tag(prev: Option<&str>) -> Option<Tag> {
    let prev = prev?.to_lowercase().replace('’', "'");
    Some(match prev.as_str() {
        "to" | "will" | "would" | "can" | "could" | "should" | "shall" | "may" | "might"
        | "must" | "do" | "does" | "did" | "don't" | "doesn't" | "didn't" | "won't" | "can't"
        | "couldn't" | "wouldn't" | "shouldn't" | "let's" | "please" | "i" | "we" | "they"
        | "you" => Tag::Verb,
        "have" | "has" | "had" | "was" | "were" | "been" | "be" | "being" | "is" | "are"
        | "got" => Tag::Vbn,
        "the" | "a" | "an" | "my" | "your" | "his" | "her" | "its" | "our" | "their" | "this"
        | "these" | "those" | "some" | "any" | "no" | "every" | "each" | "of" => Tag::Noun,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;
    use polyvox_core::Lang;

    const GOLD: &str = r#"{
        "hello": "həlˈO", "world": "wˈɜɹld", "apple": "ˈæpᵊl", "cat": "kˈæt", "java": "ʤˈɑvə",
        "script": "skɹˈɪpt", "eat": "ˈit", "go": "ɡˈO", "butter": "bˈʌɾəɹ",
        "live": {"DEFAULT": "lˈIv", "VERB": "lˈɪv"}, "to": "tu",
        "used": {"DEFAULT": "jˈuzd", "VBD": "jˈust"},
        "H": "ˈAʧ", "T": "tˈi", "P": "pˈi", "S": "ˈɛs", "Q": "kjˈu", "X": "ˈɛks", "Z": "zˈi"
    }"#;

    fn run(text: &str) -> String {
        let lexicon = Lexicon::from_json(GOLD, "{}", false);
        let vocab_json = format!(
            r#"{{"vocab": {{{}}}}}"#,
            "AIOQWYTabdefhijklmnpstuvwzæðŋɑɒɔəɛɜɪʊʌᵻɐʤʧˈˌᵊɡɹ .,!?;:—…\"()“”"
                .chars()
                .enumerate()
                .map(|(i, c)| format!("{}: {}", serde_json::Value::from(c.to_string()), i + 1))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let vocab = Vocab::from_json(vocab_json.as_bytes()).expect("test vocab");
        let g2p = G2p {
            lexicon: &lexicon,
            espeak: None,
            vocab: &vocab,
            british: false,
        };
        let segs = g2p.segments(&normalize(text, Lang::EnUs));
        let mut s = String::new();
        for seg in segs {
            if seg.space_before {
                s.push(' ');
            }
            s.push_str(&seg.phonemes);
        }
        s
    }

    #[test]
    fn words_punctuation_and_spacing() {
        assert_eq!(run("Hello, world!"), "həlˈO, wˈɜɹld!");
        assert_eq!(run("(hello) \"world\""), "(həlˈO) \"wˈɜɹld\"");
        assert_eq!(run("butter"), "bˈʌTəɹ", "flaps become T for Kokoro v1.0");
    }

    #[test]
    fn context_picks_readings() {
        assert_eq!(run("the apple"), "ði ˈæpᵊl");
        assert_eq!(run("the cat"), "ðə kˈæt");
        assert_eq!(run("to eat"), "tʊ ˈit");
        assert_eq!(run("to go"), "tə ɡˈO");
        assert_eq!(run("go to."), "ɡˈO tu.");
        assert_eq!(run("to live"), "tə lˈɪv");
        assert_eq!(run("live cat"), "lˈIv kˈæt");
        assert_eq!(run("used to"), "jˈust tu");
        assert_eq!(run("a cat"), "ɐ kˈæt");
    }

    #[test]
    fn unknown_words_without_espeak_are_spelled() {
        assert_eq!(run("HTTPS"), "ˌAʧtˌitˌipˌiˈɛs");
        assert_eq!(run("JavaScript"), "ʤˈɑvəskɹˈɪpt");
        assert_eq!(run("zqx"), "zˌikjˌuˈɛks");
        assert_eq!(run("жжж"), "", "unreadable scripts are dropped");
    }
}
