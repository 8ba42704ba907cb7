//! Katakana (a dictionary's pronunciation field) → Kokoro's Japanese phoneme symbols.
//!
//! The symbol choices follow misaki's Japanese front end, the G2P Kokoro's Japanese voices were
//! trained on: one or two symbols per mora (ɕ ʨ ʥ ʦ for the sibilants and affricates, ɸ for フ,
//! ɽ for the r-row, ɯ for う), yōon combinations with ʲ, ッ as ʔ, ン as ɴ and the long-vowel
//! mark as ː. Hiragana is folded into katakana first, so unknown words written in kana read too.

/// Hiragana → katakana (the dictionary writes pronunciations in katakana).
pub(crate) fn to_katakana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Whether `s` is all kana (and the long-vowel mark), so it can be read without a dictionary.
pub(crate) fn is_kana(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| matches!(c, '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | 'ー'))
}

fn mora(c: char) -> Option<&'static str> {
    Some(match c {
        'ァ' | 'ア' => "a",
        'ィ' | 'イ' | 'ヰ' => "i",
        'ゥ' | 'ウ' => "ɯ",
        'ェ' | 'エ' | 'ヱ' => "e",
        'ォ' | 'オ' | 'ヲ' => "o",
        'カ' | 'ヵ' => "ka",
        'ガ' => "ɡa",
        'キ' => "ki",
        'ギ' => "ɡi",
        'ク' => "kɯ",
        'グ' => "ɡɯ",
        'ケ' | 'ヶ' => "ke",
        'ゲ' => "ɡe",
        'コ' => "ko",
        'ゴ' => "ɡo",
        'サ' => "sa",
        'ザ' => "za",
        'シ' => "ɕi",
        'ジ' | 'ヂ' => "ʥi",
        'ス' => "sɨ",
        'ズ' => "zɨ",
        'セ' => "se",
        'ゼ' => "ze",
        'ソ' => "so",
        'ゾ' => "zo",
        'タ' => "ta",
        'ダ' => "da",
        'チ' => "ʨi",
        'ツ' => "ʦɨ",
        'ヅ' => "ʥɨ",
        'テ' => "te",
        'デ' => "de",
        'ト' => "to",
        'ド' => "do",
        'ナ' => "na",
        'ニ' => "ɲi",
        'ヌ' => "nɯ",
        'ネ' => "ne",
        'ノ' => "no",
        'ハ' => "ha",
        'バ' => "ba",
        'パ' => "pa",
        'ヒ' => "çi",
        'ビ' => "bi",
        'ピ' => "pi",
        'フ' => "ɸɯ",
        'ブ' => "bɯ",
        'プ' => "pɯ",
        'ヘ' => "he",
        'ベ' => "be",
        'ペ' => "pe",
        'ホ' => "ho",
        'ボ' => "bo",
        'ポ' => "po",
        'マ' => "ma",
        'ミ' => "mi",
        'ム' => "mɯ",
        'メ' => "me",
        'モ' => "mo",
        'ャ' | 'ヤ' => "ja",
        'ュ' | 'ユ' => "jɯ",
        'ョ' | 'ヨ' => "jo",
        'ラ' => "ɽa",
        'リ' => "ɽi",
        'ル' => "ɽɯ",
        'レ' => "ɽe",
        'ロ' => "ɽo",
        'ヮ' | 'ワ' => "βa",
        'ヴ' => "vɯ",
        'ヷ' => "va",
        'ヸ' => "vi",
        'ヹ' => "ve",
        'ヺ' => "vo",
        'ッ' => "ʔ",
        'ン' => "ɴ",
        'ー' => "ː",
        _ => return None,
    })
}

/// The consonant part a yōon or foreign-sound combination builds on, and whether it palatalizes
/// (キャ → kʲa) or is already palatal (シャ → ɕa).
fn onset(c: char) -> Option<(&'static str, bool)> {
    Some(match c {
        'キ' => ("k", true),
        'ギ' => ("ɡ", true),
        'シ' => ("ɕ", false),
        'ジ' | 'ヂ' => ("ʥ", false),
        'チ' => ("ʨ", false),
        'ニ' => ("ɲ", false),
        'ヒ' => ("ç", false),
        'ビ' => ("b", true),
        'ピ' => ("p", true),
        'ミ' => ("m", true),
        'リ' => ("ɽ", true),
        'テ' => ("t", true),
        'デ' => ("d", true),
        'フ' => ("ɸ", true),
        'ヴ' => ("v", true),
        _ => return None,
    })
}

/// Two-kana combinations (a mora and a small kana).
fn combo(a: char, b: char) -> Option<String> {
    let vowel = match b {
        'ャ' => "a",
        'ュ' => "ɨ",
        'ョ' => "o",
        'ェ' => "e",
        'ァ' => "a",
        'ィ' => "i",
        'ォ' => "o",
        'ゥ' => "ɯ",
        _ => return None,
    };
    let fixed = match (a, b) {
        ('イ', 'ェ') => "je",
        ('ウ', 'ァ') => "βa",
        ('ウ', 'ィ') => "βi",
        ('ウ', 'ェ') => "βe",
        ('ウ', 'ォ') => "βo",
        ('ク', 'ァ' | 'ヮ') => "kᵝa",
        ('ク', 'ィ') => "kᵝi",
        ('ク', 'ェ') => "kᵝe",
        ('ク', 'ォ') => "kᵝo",
        ('グ', 'ァ') => "ɡᵝa",
        ('ス', 'ィ') => "si",
        ('ズ', 'ィ') => "zi",
        ('ツ', 'ァ') => "ʦa",
        ('ツ', 'ィ') => "ʦi",
        ('ツ', 'ェ') => "ʦe",
        ('ツ', 'ォ') => "ʦo",
        ('テ', 'ィ') => "ti",
        ('デ', 'ィ') => "di",
        ('ト', 'ゥ') => "tɯ",
        ('ド', 'ゥ') => "dɯ",
        ('フ', 'ァ') => "ɸa",
        ('フ', 'ィ') => "ɸi",
        ('フ', 'ェ') => "ɸe",
        ('フ', 'ォ') => "ɸo",
        ('ヴ', 'ァ') => "va",
        ('ヴ', 'ィ') => "vi",
        ('ヴ', 'ェ') => "ve",
        ('ヴ', 'ォ') => "vo",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_owned());
    }
    let (c, palatalize) = onset(a)?;
    if !matches!(b, 'ャ' | 'ュ' | 'ョ' | 'ェ') {
        return None;
    }
    Some(format!("{c}{}{vowel}", if palatalize { "ʲ" } else { "" }))
}

/// Phonemes of a katakana (or hiragana) pronunciation; characters that are not kana are skipped.
pub(crate) fn phonemes(pron: &str) -> String {
    let chars: Vec<char> = to_katakana(pron).chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if let Some(next) = chars.get(i + 1)
            && let Some(p) = combo(chars[i], *next)
        {
            out.push_str(&p);
            i += 2;
            continue;
        }
        if let Some(p) = mora(chars[i]) {
            out.push_str(p);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moras_combinations_and_marks() {
        assert_eq!(phonemes("トーキョー"), "toːkʲoː");
        assert_eq!(phonemes("コンニチワ"), "koɴɲiʨiβa");
        assert_eq!(phonemes("ガッコー"), "ɡaʔkoː");
        assert_eq!(phonemes("シャシン"), "ɕaɕiɴ");
        assert_eq!(phonemes("ティーシャツ"), "tiːɕaʦɨ");
        assert_eq!(phonemes("ふじさん"), "ɸɯʥisaɴ");
        assert_eq!(phonemes("リョコー"), "ɽʲokoː");
        assert_eq!(phonemes("フォーク"), "ɸoːkɯ");
    }

    #[test]
    fn kana_detection() {
        assert!(is_kana("ひらがな"));
        assert!(is_kana("カタカナー"));
        assert!(!is_kana("漢字"));
        assert!(!is_kana(""));
    }
}
