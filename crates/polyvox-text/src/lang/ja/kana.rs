//! Katakana (a dictionary's pronunciation field) → Kokoro's Japanese phoneme symbols.
//!
//! The table is the one Kokoro v1.0's Japanese voices were trained on: misaki's default
//! Japanese path (`JAG2P()`, its cutlet module), not the pyopenjtalk table of its `version="2.0"`.
//! So the r-row is a tap (ɾa ɾʲi ɾɯ ɾe ɾo), き ぎ び ぴ み リ are palatalised (kʲi ɡʲi bʲi pʲi mʲi
//! ɾʲi), ざ ぜ ぞ are affricates (ʣa ʣe ʣo), and ゅ in a yōon is ɨ (kʲɨ ɕɨ). ン takes the place of
//! the kana after it inside the word: m before m p b, ŋ before k ɡ, ɲ before ɲ ʨ ʥ, n before
//! n t d ɾ z, ɴ otherwise and at the end of a word. ッ is ʔ and the long-vowel mark ː; nothing is
//! devoiced, as misaki marks no devoicing. Hiragana is folded into katakana first, so unknown
//! words written in kana read too. `scripts/ja_parity.py` checks the whole path against misaki.

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

/// One kana on its own.
fn mora(c: char) -> Option<&'static str> {
    Some(match c {
        'ァ' | 'ア' => "a",
        'ィ' | 'イ' | 'ヰ' => "i",
        'ゥ' | 'ウ' => "ɯ",
        'ェ' | 'エ' | 'ヱ' => "e",
        'ォ' | 'オ' | 'ヲ' => "o",
        'カ' | 'ヵ' => "ka",
        'ガ' => "ɡa",
        'キ' => "kʲi",
        'ギ' => "ɡʲi",
        'ク' => "kɯ",
        'グ' => "ɡɯ",
        'ケ' | 'ヶ' => "ke",
        'ゲ' => "ɡe",
        'コ' => "ko",
        'ゴ' => "ɡo",
        'サ' => "sa",
        'ザ' => "ʣa",
        'シ' => "ɕi",
        'ジ' | 'ヂ' => "ʥi",
        'ス' => "sɨ",
        'ズ' | 'ヅ' => "zɨ",
        'セ' => "se",
        'ゼ' => "ʣe",
        'ソ' => "so",
        'ゾ' => "ʣo",
        'タ' => "ta",
        'ダ' => "da",
        'チ' => "ʨi",
        'ツ' => "ʦɨ",
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
        'ビ' => "bʲi",
        'ピ' => "pʲi",
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
        'ミ' => "mʲi",
        'ム' => "mɯ",
        'メ' => "me",
        'モ' => "mo",
        'ャ' | 'ヤ' => "ja",
        'ュ' | 'ユ' => "jɯ",
        'ョ' | 'ヨ' => "jo",
        'ラ' => "ɾa",
        'リ' => "ɾʲi",
        'ル' => "ɾɯ",
        'レ' => "ɾe",
        'ロ' => "ɾo",
        'ヮ' | 'ワ' => "βa",
        'ヴ' => "vɯ",
        'ヷ' => "va",
        'ヸ' => "vʲi",
        'ヹ' => "ve",
        'ヺ' => "vo",
        _ => return None,
    })
}

/// A kana and the small kana after it, where the pair has its own sound.
fn digraph(a: char, b: char) -> Option<&'static str> {
    Some(match (a, b) {
        ('イ', 'ェ') => "je",
        ('ウ', 'ィ') => "βi",
        ('ウ', 'ェ') => "βe",
        ('ウ', 'ォ') => "βo",
        ('キ', 'ェ') => "kʲe",
        ('キ', 'ャ') => "kʲa",
        ('キ', 'ュ') => "kʲɨ",
        ('キ', 'ョ') => "kʲo",
        ('ギ', 'ャ') => "ɡʲa",
        ('ギ', 'ュ') => "ɡʲɨ",
        ('ギ', 'ョ') => "ɡʲo",
        ('ク', 'ァ') => "kᵝa",
        ('ク', 'ィ') => "kᵝi",
        ('ク', 'ェ') => "kᵝe",
        ('ク', 'ォ') => "kᵝo",
        ('グ', 'ァ') => "ɡᵝa",
        ('グ', 'ィ') => "ɡᵝi",
        ('グ', 'ェ') => "ɡᵝe",
        ('グ', 'ォ') => "ɡᵝo",
        ('シ', 'ェ') => "ɕe",
        ('シ', 'ャ') => "ɕa",
        ('シ', 'ュ') => "ɕɨ",
        ('シ', 'ョ') => "ɕo",
        ('ジ' | 'ヂ', 'ャ') => "ʥa",
        ('ジ' | 'ヂ', 'ュ') => "ʥɨ",
        ('ジ' | 'ヂ', 'ョ') => "ʥo",
        ('ジ', 'ェ') => "ʥe",
        ('チ', 'ェ') => "ʨe",
        ('チ', 'ャ') => "ʨa",
        ('チ', 'ュ') => "ʨɨ",
        ('チ', 'ョ') => "ʨo",
        ('ツ', 'ァ') => "ʦa",
        ('ツ', 'ィ') => "ʦʲi",
        ('ツ', 'ェ') => "ʦe",
        ('ツ', 'ォ') => "ʦo",
        ('テ', 'ィ') => "tʲi",
        ('テ', 'ュ') => "tʲɨ",
        ('デ', 'ィ') => "dʲi",
        ('デ', 'ュ') => "dʲɨ",
        ('ト', 'ゥ') => "tɯ",
        ('ド', 'ゥ') => "dɯ",
        ('ニ', 'ェ') => "ɲe",
        ('ニ', 'ャ') => "ɲa",
        ('ニ', 'ュ') => "ɲɨ",
        ('ニ', 'ョ') => "ɲo",
        ('ヒ', 'ェ') => "çe",
        ('ヒ', 'ャ') => "ça",
        ('ヒ', 'ュ') => "çɨ",
        ('ヒ', 'ョ') => "ço",
        ('ビ', 'ャ') => "bʲa",
        ('ビ', 'ュ') => "bʲɨ",
        ('ビ', 'ョ') => "bʲo",
        ('ピ', 'ャ') => "pʲa",
        ('ピ', 'ュ') => "pʲɨ",
        ('ピ', 'ョ') => "pʲo",
        ('フ', 'ァ') => "ɸa",
        ('フ', 'ィ') => "ɸʲi",
        ('フ', 'ェ') => "ɸe",
        ('フ', 'ォ') => "ɸo",
        ('フ', 'ュ') => "ɸʲɨ",
        ('フ', 'ョ') => "ɸʲo",
        ('ミ', 'ャ') => "mʲa",
        ('ミ', 'ュ') => "mʲɨ",
        ('ミ', 'ョ') => "mʲo",
        ('リ', 'ャ') => "ɾʲa",
        ('リ', 'ュ') => "ɾʲɨ",
        ('リ', 'ョ') => "ɾʲo",
        ('ヴ', 'ァ') => "va",
        ('ヴ', 'ィ') => "vʲi",
        ('ヴ', 'ェ') => "ve",
        ('ヴ', 'ォ') => "vo",
        ('ヴ', 'ュ') => "bʲɨ",
        ('ヴ', 'ョ') => "bʲo",
        _ => return None,
    })
}

/// The small kana that join the kana before them.
fn is_small(c: char) -> bool {
    matches!(c, 'ャ' | 'ュ' | 'ョ' | 'ァ' | 'ィ' | 'ゥ' | 'ェ' | 'ォ')
}

/// ン as the sound after it makes it (misaki's rule, by the first symbol of the next kana).
fn moraic_nasal(next: Option<char>) -> char {
    nasal_before(next.and_then(mora).and_then(|p| p.chars().next()))
}

/// ン before a phoneme symbol (or at the end, `None`).
pub(crate) fn nasal_before(next: Option<char>) -> char {
    match next {
        Some('m' | 'p' | 'b') => 'm',
        Some('k' | 'ɡ') => 'ŋ',
        Some('ɲ' | 'ʨ' | 'ʥ') => 'ɲ',
        Some('n' | 't' | 'd' | 'ɾ' | 'z') => 'n',
        _ => 'ɴ',
    }
}

/// Phonemes of one word's katakana (or hiragana) pronunciation; characters that are not kana
/// are skipped. ン looks ahead inside the word only: at a word's end it is ɴ, as in training.
pub(crate) fn phonemes(pron: &str) -> String {
    let chars: Vec<char> = to_katakana(pron).chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        if let Some(p) = next.and_then(|n| digraph(c, n)) {
            out.push_str(p);
            i += 2;
            continue;
        }
        match c {
            'ッ' => out.push('ʔ'),
            'ン' => out.push(moraic_nasal(next)),
            'ー' => out.push('ː'),
            // A small kana on its own is silent; after a kana without a digraph it replaces that
            // kana's vowel (ウァ a, スィ si, テャ tja).
            c if is_small(c) => {}
            c => {
                if let Some(p) = mora(c) {
                    match next.filter(|&n| is_small(n)).and_then(mora) {
                        Some(small) => {
                            out.extend(p.chars().take(p.chars().count() - 1));
                            out.push_str(small);
                            i += 1;
                        }
                        None => out.push_str(p),
                    }
                }
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kana of the gojūon, voiced and semi-voiced rows, as misaki's table has them.
    #[test]
    fn mora_table() {
        let rows = [
            ("アイウエオ", "aiɯeo"),
            ("カキクケコ", "kakʲikɯkeko"),
            ("ガギグゲゴ", "ɡaɡʲiɡɯɡeɡo"),
            ("サシスセソ", "saɕisɨseso"),
            ("ザジズゼゾ", "ʣaʥizɨʣeʣo"),
            ("タチツテト", "taʨiʦɨteto"),
            ("ダヂヅデド", "daʥizɨdedo"),
            ("ナニヌネノ", "naɲinɯneno"),
            ("ハヒフヘホ", "haçiɸɯheho"),
            ("バビブベボ", "babʲibɯbebo"),
            ("パピプペポ", "papʲipɯpepo"),
            ("マミムメモ", "mamʲimɯmemo"),
            ("ヤユヨ", "jajɯjo"),
            ("ラリルレロ", "ɾaɾʲiɾɯɾeɾo"),
            ("ワヲ", "βao"),
            ("ヴ", "vɯ"),
        ];
        for (kana, want) in rows {
            assert_eq!(phonemes(kana), want, "{kana}");
        }
    }

    #[test]
    fn yoon_and_foreign_sounds() {
        let pairs = [
            ("キャキュキョ", "kʲakʲɨkʲo"),
            ("ギャギュギョ", "ɡʲaɡʲɨɡʲo"),
            ("シャシュショシェ", "ɕaɕɨɕoɕe"),
            ("ジャジュジョジェ", "ʥaʥɨʥoʥe"),
            ("チャチュチョチェ", "ʨaʨɨʨoʨe"),
            ("ニャニュニョ", "ɲaɲɨɲo"),
            ("ヒャヒュヒョ", "çaçɨço"),
            ("ビャビュビョ", "bʲabʲɨbʲo"),
            ("ピャピュピョ", "pʲapʲɨpʲo"),
            ("ミャミュミョ", "mʲamʲɨmʲo"),
            ("リャリュリョ", "ɾʲaɾʲɨɾʲo"),
            ("ティディトゥドゥ", "tʲidʲitɯdɯ"),
            ("ファフィフェフォ", "ɸaɸʲiɸeɸo"),
            ("ウィウェウォイェ", "βiβeβoje"),
            ("ヴァヴィヴェヴォ", "vavʲivevo"),
            ("ツァツィツェツォ", "ʦaʦʲiʦeʦo"),
            ("クァグァ", "kᵝaɡᵝa"),
            // No pair of their own: the small kana replaces the vowel.
            ("スィズィ", "sizi"),
        ];
        for (kana, want) in pairs {
            assert_eq!(phonemes(kana), want, "{kana}");
        }
    }

    /// ン before each class of sound, inside one word.
    #[test]
    fn moraic_nasal_assimilates_to_the_next_sound() {
        let pairs = [
            ("サンマ", "samma"),
            ("サンポ", "sampo"),
            ("シンブン", "ɕimbɯɴ"),
            ("ギンコー", "ɡʲiŋkoː"),
            ("リンゴ", "ɾʲiŋɡo"),
            ("コンニャク", "koɲɲakɯ"),
            ("パンチ", "paɲʨi"),
            ("カンジ", "kaɲʥi"),
            ("アンナイ", "annai"),
            ("ホントー", "hontoː"),
            ("コンド", "kondo"),
            ("ベンリ", "benɾʲi"),
            ("カンズメ", "kanzɨme"),
            // ɴ elsewhere: before s, h, y, w, vowels, ざ ぜ ぞ (ʣ), and at the end.
            ("センセー", "seɴseː"),
            ("デンワ", "deɴβa"),
            ("ホンヤ", "hoɴja"),
            ("レンアイ", "ɾeɴai"),
            ("ゼンザ", "ʣeɴʣa"),
            ("ニホン", "ɲihoɴ"),
        ];
        for (kana, want) in pairs {
            assert_eq!(phonemes(kana), want, "{kana}");
        }
    }

    #[test]
    fn sokuon_and_long_vowels() {
        assert_eq!(phonemes("ガッコー"), "ɡaʔkoː");
        assert_eq!(phonemes("キッテ"), "kʲiʔte");
        assert_eq!(phonemes("ザッシ"), "ʣaʔɕi");
        assert_eq!(phonemes("ベッド"), "beʔdo");
        assert_eq!(phonemes("トーキョー"), "toːkʲoː");
        assert_eq!(phonemes("コーヒー"), "koːçiː");
    }

    #[test]
    fn hiragana_reads_like_katakana() {
        assert_eq!(phonemes("ふじさん"), "ɸɯʥisaɴ");
        assert_eq!(phonemes("りょこう"), "ɾʲokoɯ");
        assert_eq!(phonemes("ぁ"), "");
    }

    #[test]
    fn kana_detection() {
        assert!(is_kana("ひらがな"));
        assert!(is_kana("カタカナー"));
        assert!(!is_kana("漢字"));
        assert!(!is_kana(""));
    }
}
