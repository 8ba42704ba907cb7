//! One pinyin syllable (letters + tone 1-5) → Kokoro's Mandarin symbols.
//!
//! Kokoro's Chinese voices were trained on misaki's legacy Mandarin G2P: an IPA transcription of
//! pinyin (after Duanmu and Lin) with each tone written as one arrow right after the syllable's
//! nucleus vowel (→ high, ↗ rising, ↓ low-dipping, ↘ falling; the neutral tone has none), the
//! apical vowels of zhi/chi/shi/ri and zi/ci/si both written ɨ, and diphthongs without their
//! non-syllabic marks. The tables below are written from that description, not copied.

/// Initials, longest first so `zh` wins over `z`.
const INITIALS: &[(&str, &str)] = &[
    ("zh", "ꭧ"),
    ("ch", "ꭧʰ"),
    ("sh", "ʂ"),
    ("b", "p"),
    ("p", "pʰ"),
    ("m", "m"),
    ("f", "f"),
    ("d", "t"),
    ("t", "tʰ"),
    ("n", "n"),
    ("l", "l"),
    ("g", "k"),
    ("k", "kʰ"),
    ("h", "x"),
    ("j", "ʨ"),
    ("q", "ʨʰ"),
    ("x", "ɕ"),
    ("r", "ɻ"),
    ("z", "ʦ"),
    ("c", "ʦʰ"),
    ("s", "s"),
];

/// Finals: (glide before the nucleus, nucleus, coda). The tone goes after the nucleus.
fn final_parts(f: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match f {
        "a" => ("", "a", ""),
        "ai" => ("", "ai", ""),
        "an" => ("", "a", "n"),
        "ang" => ("", "a", "ŋ"),
        "ao" => ("", "au", ""),
        "e" => ("", "ɤ", ""),
        "ei" => ("", "ei", ""),
        "en" => ("", "ə", "n"),
        "eng" => ("", "ə", "ŋ"),
        "er" => ("", "ɚ", ""),
        "ê" => ("", "ɛ", ""),
        "i" => ("", "i", ""),
        "ia" => ("j", "a", ""),
        "ian" => ("j", "ɛ", "n"),
        "iang" => ("j", "a", "ŋ"),
        "iao" => ("j", "au", ""),
        "ie" => ("j", "e", ""),
        "in" => ("", "i", "n"),
        "iou" | "iu" => ("j", "ou", ""),
        "ing" => ("", "i", "ŋ"),
        "iong" => ("j", "ʊ", "ŋ"),
        "io" => ("j", "ɔ", ""),
        "ong" => ("", "ʊ", "ŋ"),
        "ou" => ("", "ou", ""),
        "u" => ("", "u", ""),
        "ua" => ("w", "a", ""),
        "uai" => ("w", "ai", ""),
        "uan" => ("w", "a", "n"),
        "uang" => ("w", "a", "ŋ"),
        "uei" | "ui" => ("w", "ei", ""),
        "uen" | "un" => ("w", "ə", "n"),
        "ueng" => ("w", "ə", "ŋ"),
        "uo" | "o" => ("w", "o", ""),
        "ü" => ("", "y", ""),
        "üe" => ("ɥ", "e", ""),
        "üan" => ("ɥ", "ɛ", "n"),
        "ün" => ("", "y", "n"),
        _ => return None,
    })
}

pub(crate) fn tone_mark(tone: u8) -> &'static str {
    match tone {
        1 => "→",
        2 => "↗",
        3 => "↓",
        4 => "↘",
        _ => "",
    }
}

/// Rewrites the spelling conventions of pinyin (y/w initials, ü written u after j/q/x) to the
/// initial + final of the tables.
fn split(syl: &str) -> (&'static str, String) {
    let s = syl.replace('v', "ü");
    if let Some(rest) = s.strip_prefix('y') {
        let f = match rest {
            "i" | "in" | "ing" => rest.to_owned(),
            "u" | "ue" | "uan" | "un" => format!("ü{}", &rest[1..]),
            "ou" => "iou".into(),
            r if r.starts_with('i') => r.to_owned(),
            r => format!("i{r}"),
        };
        return ("", f);
    }
    if let Some(rest) = s.strip_prefix('w') {
        let f = match rest {
            "u" => "u".to_owned(),
            "ei" => "uei".into(),
            "en" => "uen".into(),
            r => format!("u{r}"),
        };
        return ("", f);
    }
    for (ini, ipa) in INITIALS {
        if let Some(rest) = s.strip_prefix(ini)
            && !rest.is_empty()
        {
            let rest = if matches!(*ini, "j" | "q" | "x") && rest.starts_with('u') {
                format!("ü{}", &rest[1..])
            } else {
                rest.to_owned()
            };
            return (ipa, rest);
        }
    }
    ("", s)
}

/// Kokoro symbols of one syllable, e.g. ("hao", 3) → "xau↓"; `None` if it is not pinyin.
pub(crate) fn syllable(py: &str, tone: u8) -> Option<String> {
    let t = tone_mark(tone);
    match py {
        "m" | "n" | "ng" => return Some(format!("{}{t}", py.replace("ng", "ŋ"))),
        "hm" => return Some(format!("hm{t}")),
        "hng" => return Some(format!("hŋ{t}")),
        _ => {}
    }
    let (ini, fin) = split(py);
    // zhi chi shi ri, zi ci si: the apical vowel.
    if fin == "i" && matches!(ini, "ꭧ" | "ꭧʰ" | "ʂ" | "ɻ" | "ʦ" | "ʦʰ" | "s") {
        return Some(format!("{ini}ɨ{t}"));
    }
    let (glide, nucleus, coda) = final_parts(&fin)?;
    Some(format!("{ini}{glide}{nucleus}{t}{coda}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syllables() {
        for (py, tone, want) in [
            ("ni", 3, "ni↓"),
            ("hao", 3, "xau↓"),
            ("zhong", 1, "ꭧʊ→ŋ"),
            ("guo", 2, "kwo↗"),
            ("shi", 4, "ʂɨ↘"),
            ("si", 4, "sɨ↘"),
            ("qu", 4, "ʨʰy↘"),
            ("yue", 4, "ɥe↘"),
            ("liu", 2, "ljou↗"),
            ("shui", 3, "ʂwei↓"),
            ("yi", 1, "i→"),
            ("you", 3, "jou↓"),
            ("wo", 3, "wo↓"),
            ("wei", 4, "wei↘"),
            ("er", 4, "ɚ↘"),
            ("de", 5, "tɤ"),
            ("yuan", 2, "ɥɛ↗n"),
            ("jun", 1, "ʨy→n"),
            ("chuan", 2, "ꭧʰwa↗n"),
            ("lv", 4, "ly↘"),
            ("bo", 2, "pwo↗"),
        ] {
            assert_eq!(syllable(py, tone).as_deref(), Some(want), "{py}{tone}");
        }
        assert_eq!(syllable("xyz", 1), None);
    }
}
