//! Korean: rule-based Hangul → IPA in Kokoro's symbols, spoken by a Japanese voice.
//!
//! Kokoro has no Korean voice and was not trained on Korean, so this is an accented, non-native
//! reading (documented as such); a real Korean model can be added later as a second engine model
//! behind the same `Reader` (the language decides the reader, the voice the model).
//!
//! Each syllable (U+AC00–D7A3) is split by arithmetic into onset, vowel and coda, then within a
//! word: ㅎ aspirates a neighbouring lax stop (좋다 조타, 축하 추카) or drops before a vowel;
//! a coda moves into a following empty onset (liaison, 음악 으막; ㄷㅌ+이 palatalise, 같이 가치);
//! codas neutralise to k t p n l m ŋ; ㄹ after other codas becomes ㄴ; stops before nasals
//! nasalise (합니다 함니다); ㄴㄹ and ㄹㄴ become ll (신라 실라); lax onsets after a stop coda
//! are tense (unvoiced), and between voiced sounds are voiced (ɡ d b ʥ); ㄹ is ɾ between vowels
//! and l in a coda or after l. Numbers are written out first (`numbers`). Runs of Latin letters
//! (brand names, English words in Korean text) go to the English reader, as in Mandarin; the
//! voice stays the same, so they come out in its accent rather than being dropped.

mod numbers;

use std::sync::Arc;

use polyvox_core::Lang;

use super::Reader;
use super::cjk::{SegBuilder, latin_run_end, punct};
use crate::g2p::Seg;

const ONSETS: [char; 19] = [
    'ㄱ', 'ㄲ', 'ㄴ', 'ㄷ', 'ㄸ', 'ㄹ', 'ㅁ', 'ㅂ', 'ㅃ', 'ㅅ', 'ㅆ', 'ㅇ', 'ㅈ', 'ㅉ', 'ㅊ', 'ㅋ',
    'ㅌ', 'ㅍ', 'ㅎ',
];
const VOWELS: [&str; 21] = [
    "a", "ɛ", "ja", "jɛ", "ʌ", "e", "jʌ", "je", "o", "wa", "wɛ", "we", "jo", "u", "wʌ", "we", "wi",
    "ju", "ɯ", "ɰi", "i",
];
/// Codas as (first, second) consonants of the cluster.
const CODAS: [(Option<char>, Option<char>); 28] = [
    (None, None),
    (Some('ㄱ'), None),
    (Some('ㄲ'), None),
    (Some('ㄱ'), Some('ㅅ')),
    (Some('ㄴ'), None),
    (Some('ㄴ'), Some('ㅈ')),
    (Some('ㄴ'), Some('ㅎ')),
    (Some('ㄷ'), None),
    (Some('ㄹ'), None),
    (Some('ㄹ'), Some('ㄱ')),
    (Some('ㄹ'), Some('ㅁ')),
    (Some('ㄹ'), Some('ㅂ')),
    (Some('ㄹ'), Some('ㅅ')),
    (Some('ㄹ'), Some('ㅌ')),
    (Some('ㄹ'), Some('ㅍ')),
    (Some('ㄹ'), Some('ㅎ')),
    (Some('ㅁ'), None),
    (Some('ㅂ'), None),
    (Some('ㅂ'), Some('ㅅ')),
    (Some('ㅅ'), None),
    (Some('ㅆ'), None),
    (Some('ㅇ'), None),
    (Some('ㅈ'), None),
    (Some('ㅊ'), None),
    (Some('ㅋ'), None),
    (Some('ㅌ'), None),
    (Some('ㅍ'), None),
    (Some('ㅎ'), None),
];

#[derive(Debug, Clone)]
struct Syllable {
    /// `None` for the silent ㅇ.
    onset: Option<char>,
    vowel: usize,
    coda: Vec<char>,
    /// Onset pronounced tense (after a stop coda).
    tense: bool,
}

fn decompose(c: char) -> Option<Syllable> {
    let s = (c as u32).checked_sub(0xAC00).filter(|&s| s < 11_172)?;
    let onset = ONSETS[(s / 588) as usize];
    let (a, b) = CODAS[(s % 28) as usize];
    Some(Syllable {
        onset: (onset != 'ㅇ').then_some(onset),
        vowel: ((s % 588) / 28) as usize,
        coda: a.into_iter().chain(b).collect(),
        tense: false,
    })
}

fn aspirate(c: char) -> Option<char> {
    Some(match c {
        'ㄱ' => 'ㅋ',
        'ㄷ' => 'ㅌ',
        'ㅂ' => 'ㅍ',
        'ㅈ' => 'ㅊ',
        _ => return None,
    })
}

/// The sound a coda is neutralised to: one of ㄱ ㄷ ㅂ ㄴ ㄹ ㅁ ㅇ.
fn neutral(coda: &[char]) -> Option<char> {
    let c = match coda {
        [] => return None,
        // Clusters: which consonant is heard (the common readings).
        ['ㄹ', 'ㄱ'] => 'ㄱ',
        ['ㄹ', 'ㅁ'] => 'ㅁ',
        ['ㄹ', 'ㅍ'] => 'ㅂ',
        [a, _] if *a == 'ㄹ' => 'ㄹ',
        [a, ..] => *a,
    };
    Some(match c {
        'ㄱ' | 'ㄲ' | 'ㅋ' => 'ㄱ',
        'ㄷ' | 'ㅅ' | 'ㅆ' | 'ㅈ' | 'ㅊ' | 'ㅌ' | 'ㅎ' => 'ㄷ',
        'ㅂ' | 'ㅍ' => 'ㅂ',
        other => other,
    })
}

/// The rules of the module note, over one word's syllables.
fn resolve(syls: &mut [Syllable]) {
    for i in 0..syls.len().saturating_sub(1) {
        let (a, b) = syls.split_at_mut(i + 1);
        let (cur, next) = (&mut a[i], &mut b[0]);
        // ㅎ in the coda.
        if cur.coda.last() == Some(&'ㅎ') {
            match next.onset {
                Some(o) if aspirate(o).is_some() => {
                    next.onset = aspirate(o);
                    cur.coda.pop();
                }
                Some('ㅅ') => {
                    next.onset = Some('ㅆ');
                    cur.coda.pop();
                }
                Some('ㄴ') if cur.coda.len() == 1 => cur.coda = vec!['ㄴ'],
                None => {
                    cur.coda.pop();
                }
                _ => {}
            }
        }
        // ㅎ onset after a stop coda aspirates it; after a sonorant it fades.
        if next.onset == Some('ㅎ') {
            match cur.coda.last().copied() {
                Some(c) if aspirate(neutral(&[c]).unwrap_or(c)).is_some() => {
                    next.onset = aspirate(neutral(&[c]).unwrap_or(c));
                    cur.coda.pop();
                }
                Some('ㄴ' | 'ㄹ' | 'ㅁ') => next.onset = None,
                _ => {}
            }
        }
        // Liaison into an empty onset.
        if next.onset.is_none()
            && let Some(&last) = cur.coda.last()
            && last != 'ㅇ'
        {
            cur.coda.pop();
            let moved = match last {
                'ㅅ' if !cur.coda.is_empty() => 'ㅆ',
                c => c,
            };
            let palatal = VOWELS[next.vowel] == "i";
            next.onset = Some(match moved {
                'ㄷ' if palatal => 'ㅈ',
                'ㅌ' if palatal => 'ㅊ',
                c => c,
            });
        }
    }
    // Coda neutralisation, then the assimilations between neighbours.
    let mut codas: Vec<Option<char>> = syls.iter().map(|s| neutral(&s.coda)).collect();
    for i in 0..syls.len().saturating_sub(1) {
        let onset = syls[i + 1].onset;
        match (codas[i], onset) {
            (Some('ㄹ'), Some('ㄴ')) => syls[i + 1].onset = Some('ㄹ'),
            (Some('ㄴ'), Some('ㄹ')) => codas[i] = Some('ㄹ'),
            (Some(c), Some('ㄹ')) if c != 'ㄹ' => syls[i + 1].onset = Some('ㄴ'),
            _ => {}
        }
        let onset = syls[i + 1].onset;
        if matches!(onset, Some('ㄴ' | 'ㅁ')) {
            codas[i] = codas[i].map(|c| match c {
                'ㄱ' => 'ㅇ',
                'ㄷ' => 'ㄴ',
                'ㅂ' => 'ㅁ',
                c => c,
            });
        }
        if matches!(codas[i], Some('ㄱ' | 'ㄷ' | 'ㅂ'))
            && matches!(onset, Some('ㄱ' | 'ㄷ' | 'ㅂ' | 'ㅅ' | 'ㅈ'))
        {
            syls[i + 1].tense = true;
        }
    }
    for (s, c) in syls.iter_mut().zip(codas) {
        s.coda = c.into_iter().collect();
    }
}

fn onset_ipa(c: char, voiced: bool, after_l: bool, vowel: &str) -> String {
    let palatal = vowel.starts_with(['i', 'j']) || vowel == "wi";
    let s = match c {
        'ㄱ' if voiced => "ɡ",
        'ㄱ' | 'ㄲ' => "k",
        'ㅋ' => "kʰ",
        'ㄷ' if voiced => "d",
        'ㄷ' | 'ㄸ' => "t",
        'ㅌ' => "tʰ",
        'ㅂ' if voiced => "b",
        'ㅂ' | 'ㅃ' => "p",
        'ㅍ' => "pʰ",
        'ㅈ' if voiced => "ʥ",
        'ㅈ' | 'ㅉ' => "ʨ",
        'ㅊ' => "ʨʰ",
        'ㅅ' | 'ㅆ' if palatal => "ɕ",
        'ㅅ' | 'ㅆ' => "s",
        'ㅎ' => "h",
        'ㄴ' => "n",
        'ㅁ' => "m",
        'ㄹ' if after_l => "l",
        'ㄹ' => "ɾ",
        _ => "",
    };
    s.to_owned()
}

/// IPA of one word of Hangul syllables (other characters are skipped).
pub(crate) fn word_ipa(word: &str) -> String {
    let mut syls: Vec<Syllable> = word.chars().filter_map(decompose).collect();
    resolve(&mut syls);
    let mut out = String::new();
    for (i, s) in syls.iter().enumerate() {
        let prev_coda = i.checked_sub(1).and_then(|j| syls[j].coda.first().copied());
        let voiced =
            i > 0 && !s.tense && matches!(prev_coda, None | Some('ㄴ' | 'ㄹ' | 'ㅁ' | 'ㅇ'));
        let vowel = VOWELS[s.vowel];
        if let Some(o) = s.onset {
            out.push_str(&onset_ipa(o, voiced, prev_coda == Some('ㄹ'), vowel));
        }
        // ㅢ is [i] after a consonant.
        out.push_str(if vowel == "ɰi" && s.onset.is_some() {
            "i"
        } else {
            vowel
        });
        out.push_str(match s.coda.first() {
            Some('ㄱ') => "k",
            Some('ㄷ') => "t",
            Some('ㅂ') => "p",
            Some('ㄴ') => "n",
            Some('ㄹ') => "l",
            Some('ㅁ') => "m",
            Some('ㅇ') => "ŋ",
            _ => "",
        });
    }
    out
}

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

pub(crate) struct Korean {
    en: Arc<dyn Reader>,
}

impl std::fmt::Debug for Korean {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Korean(rules)")
    }
}

impl Korean {
    pub(crate) fn new(en: Arc<dyn Reader>) -> Self {
        Self { en }
    }
}

impl Reader for Korean {
    fn segments(&self, text: &str, _lang: Lang) -> Vec<Seg> {
        let mut b = SegBuilder::new(text);
        let mut i = 0;
        while i < text.len() {
            let c = text[i..].chars().next().unwrap_or(' ');
            if c.is_ascii_digit() {
                let end = super::ja::number_end(text, i);
                let (hangul, used) = numbers::read(&text[i..end], &text[end..]);
                // The rest of the word (a particle after the counter) reads with it.
                let tail_end = text[end + used..]
                    .find(|ch: char| !is_hangul(ch))
                    .map_or(text.len(), |k| end + used + k);
                let word = format!("{hangul}{}", &text[end + used..tail_end]);
                b.word(i..tail_end, word_ipa(&word), true);
                i = tail_end;
            } else if c.is_ascii_alphabetic() {
                let end = latin_run_end(text, i);
                b.extend(super::shift(self.en.segments(&text[i..end], Lang::EnUs), i));
                i = end;
            } else if is_hangul(c) {
                let end = text[i..]
                    .find(|ch: char| !is_hangul(ch))
                    .map_or(text.len(), |k| i + k);
                b.word(i..end, word_ipa(&text[i..end]), true);
                i = end;
            } else {
                if let Some(m) = punct(c) {
                    b.mark(i..i + c.len_utf8(), m);
                }
                i += c.len_utf8();
            }
        }
        b.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Gap;

    /// Stands in for the English reader: one segment per call, its text upper-cased, so the
    /// test sees exactly which runs were handed over and where.
    struct Echo;

    impl Reader for Echo {
        fn segments(&self, text: &str, _lang: Lang) -> Vec<Seg> {
            vec![Seg {
                span: 0..text.len(),
                phonemes: text.to_uppercase(),
                punct: None,
                gap: Gap::None,
                space_before: false,
            }]
        }
    }

    fn read(text: &str) -> Vec<(String, String)> {
        Korean::new(Arc::new(Echo))
            .segments(text, Lang::Ko)
            .into_iter()
            .map(|s| (text[s.span].to_owned(), s.phonemes))
            .collect()
    }

    #[test]
    fn latin_words_go_to_the_english_reader() {
        assert_eq!(read("hello"), [("hello".into(), "HELLO".into())]);
        let got = read("hello 안녕하세요, iPhone 15를 샀어요.");
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            texts,
            ["hello", "안녕하세요", ",", "iPhone", "15를", "샀어요", "."]
        );
        assert_eq!(got[3].1, "IPHONE");
        assert_eq!(got[4].1, "ɕiboɾɯl", "the number is read in Korean");
        assert_eq!(got[1].1, "annjʌŋhasejo");
    }

    #[test]
    fn pronunciation_rules() {
        for (word, want) in [
            ("안녕하세요", "annjʌŋhasejo"),
            ("음악", "ɯmak"),
            ("같이", "kaʨʰi"),
            ("좋다", "ʨotʰa"),
            ("합니다", "hamnida"),
            ("신라", "ɕilla"),
            ("학교", "hakkjo"),
            ("감사합니다", "kamsahamnida"),
            ("부산", "pusan"),
            ("바다", "pada"),
            ("사람", "saɾam"),
            ("축하", "ʨʰukʰa"),
            ("의사", "ɰisa"),
            ("닭", "tak"),
        ] {
            assert_eq!(word_ipa(word), want, "{word}");
        }
    }
}
