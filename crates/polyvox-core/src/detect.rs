//! Language detection for requests that omit `lang`.
//!
//! Scripts decide first, because they are unambiguous and cheap: kana means Japanese, Hangul
//! Korean, Han characters without kana Mandarin, Devanagari Hindi. Only Latin-script text needs a
//! statistical guess, and there we ask `whatlang` to choose among the Latin languages Kokoro
//! speaks and accept its answer only when it calls it reliable; otherwise the caller's fallback
//! (the voice's language) stands. Short sentences ("OK.", "Hi!") are thus never flipped to another
//! language on a whim. English keeps the accent of the fallback (en-gb stays en-gb).
//!
//! A CJK character carries about as much as a Latin word, so a sentence counts as CJK when its
//! CJK characters are at least a quarter of its Latin letters: "我喜欢用iPhone拍照" is Mandarin with an
//! English word in it, "I love 寿司" is English with a Japanese word in it.

use crate::Lang;

#[derive(Debug, Default)]
struct Counts {
    kana: usize,
    hangul: usize,
    han: usize,
    devanagari: usize,
    latin: usize,
}

fn counts(text: &str) -> Counts {
    let mut c = Counts::default();
    for ch in text.chars() {
        match ch {
            '\u{3040}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}' | '\u{FF66}'..='\u{FF9D}' => {
                c.kana += 1
            }
            '\u{AC00}'..='\u{D7A3}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}' => {
                c.hangul += 1
            }
            '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' => {
                c.han += 1
            }
            '\u{0900}'..='\u{097F}' => c.devanagari += 1,
            c2 if c2.is_alphabetic() && (c2.is_ascii() || ('\u{C0}'..='\u{24F}').contains(&c2)) => {
                c.latin += 1
            }
            _ => {}
        }
    }
    c
}

/// The language of `text`, or `None` when nothing decides it (digits, punctuation, an ambiguous
/// Latin sentence). `fallback` only picks the English accent.
pub fn detect(text: &str, fallback: Lang) -> Option<Lang> {
    let c = counts(text);
    let cjk = c.kana + c.hangul + c.han;
    if cjk > 0 && cjk * 4 >= c.latin {
        return Some(if c.hangul > c.kana + c.han {
            Lang::Ko
        } else if c.kana > 0 {
            Lang::Ja
        } else if c.han > 0 && fallback == Lang::Ja {
            // Kanji-only sentences ("東京都庁") are Japanese when the voice is.
            Lang::Ja
        } else {
            Lang::Zh
        });
    }
    if c.devanagari > 0 && c.devanagari >= c.latin {
        return Some(Lang::Hi);
    }
    if c.latin == 0 {
        return None;
    }
    const LATIN: [whatlang::Lang; 5] = [
        whatlang::Lang::Eng,
        whatlang::Lang::Spa,
        whatlang::Lang::Fra,
        whatlang::Lang::Ita,
        whatlang::Lang::Por,
    ];
    let info = whatlang::Detector::with_allowlist(LATIN.to_vec()).detect(text)?;
    if !info.is_reliable() {
        return None;
    }
    Some(match info.lang() {
        whatlang::Lang::Spa => Lang::Es,
        whatlang::Lang::Fra => Lang::Fr,
        whatlang::Lang::Ita => Lang::It,
        whatlang::Lang::Por => Lang::PtBr,
        _ if fallback == Lang::EnGb => Lang::EnGb,
        _ => Lang::EnUs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_decide_cjk_and_hindi() {
        assert_eq!(detect("今日は良い天気ですね。", Lang::EnUs), Some(Lang::Ja));
        assert_eq!(detect("今天天气很好。", Lang::EnUs), Some(Lang::Zh));
        assert_eq!(detect("東京都庁", Lang::Ja), Some(Lang::Ja));
        assert_eq!(
            detect("안녕하세요, 반갑습니다.", Lang::EnUs),
            Some(Lang::Ko)
        );
        assert_eq!(detect("नमस्ते, आप कैसे हैं?", Lang::EnUs), Some(Lang::Hi));
        assert_eq!(detect("我喜欢用iPhone拍照。", Lang::EnUs), Some(Lang::Zh));
        assert_eq!(
            detect("I really love eating 寿司 on Fridays.", Lang::EnUs),
            Some(Lang::EnUs)
        );
    }

    #[test]
    fn latin_languages_only_when_reliable() {
        assert_eq!(
            detect(
                "El tren sale de la estación a las ocho de la mañana.",
                Lang::EnUs
            ),
            Some(Lang::Es)
        );
        assert_eq!(
            detect(
                "Nous allons au marché tous les samedis avec nos enfants.",
                Lang::EnUs
            ),
            Some(Lang::Fr)
        );
        assert_eq!(
            detect(
                "The weather was lovely and we walked along the river.",
                Lang::EnGb
            ),
            Some(Lang::EnGb)
        );
        assert_eq!(detect("123, 456!", Lang::EnUs), None);
        assert_eq!(detect("", Lang::EnUs), None);
    }
}
