//! Out-of-lexicon words through the `espeak-ng` program, run as a separate process.
//!
//! espeak-ng is GPL-3.0, so we never link it: we write the words of one request to its stdin, one
//! per line, and read one IPA line back per word (without `--stdin` espeak-ng treats every input
//! line as its own clause, which is what keeps the output aligned with the input; verified on
//! 1.51). Words are sanitized to letters and apostrophes first so no punctuation can split a line.
//! If the line count still disagrees, or the program fails or hangs, the whole batch is treated as
//! failed and the caller spells those words: a degraded reading, never an error.
//!
//! The IPA is mapped to Kokoro's symbols (tied diphthongs to misaki's one-letter forms, `r` → `ɹ`,
//! flaps → `T`, ...), the idea of misaki's `espeak.py`. Results are kept in a bounded two-generation
//! cache (most recent use survives a rotation) because the same names recur across requests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

/// Most words kept in the cache (two generations of half this size).
const CACHE_WORDS: usize = 20_000;
/// Words longer than this are not sent: no English word is, and espeak-ng gets slow on them.
pub(crate) const MAX_WORD_CHARS: usize = 48;

/// A usable espeak-ng program plus its result cache.
#[derive(Debug)]
pub(crate) struct Espeak {
    program: PathBuf,
    cache: Mutex<Cache>,
}

impl Espeak {
    /// Checks that `program` runs and prints IPA; the error says why not.
    pub(crate) fn probe(program: &Path) -> Result<Self, String> {
        let espeak = Self {
            program: program.to_owned(),
            cache: Mutex::new(Cache::default()),
        };
        let lines = espeak.run(&["hello".to_owned()], "en-us")?;
        if lines.first().is_none_or(|l| l.trim().is_empty()) {
            return Err("it printed no IPA for 'hello'".into());
        }
        Ok(espeak)
    }

    /// Finds `espeak-ng` on `PATH`.
    pub(crate) fn find_on_path() -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("espeak-ng"))
            .find(|p| p.is_file())
    }

    pub(crate) fn program(&self) -> &Path {
        &self.program
    }

    /// Raw IPA for each word (`None` where espeak-ng could not help), all misses in one process.
    pub(crate) fn ipa(&self, words: &[String], british: bool) -> Vec<Option<String>> {
        let mut out: Vec<Option<String>> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            words.iter().map(|w| cache.get(british, w)).collect()
        };
        let missing: Vec<String> = {
            let mut seen = std::collections::HashSet::new();
            words
                .iter()
                .zip(&out)
                .filter(|(w, hit)| hit.is_none() && sendable(w) && seen.insert(w.as_str()))
                .map(|(w, _)| w.clone())
                .collect()
        };
        if missing.is_empty() {
            return out;
        }
        let voice = if british { "en-gb" } else { "en-us" };
        let lines = match self.run(&missing, voice) {
            Ok(lines) if lines.len() == missing.len() => lines,
            Ok(lines) => {
                tracing::warn!(
                    sent = missing.len(),
                    got = lines.len(),
                    "espeak-ng output misaligned; spelling these words"
                );
                return out;
            }
            Err(why) => {
                tracing::warn!(%why, program = %self.program.display(), "espeak-ng failed; spelling these words");
                return out;
            }
        };
        let fresh: HashMap<&str, String> = missing
            .iter()
            .map(String::as_str)
            .zip(lines)
            .filter(|(_, ipa)| !ipa.trim().is_empty())
            .collect();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for (word, ipa) in &fresh {
            cache.put(british, word, ipa.clone());
        }
        for (word, slot) in words.iter().zip(out.iter_mut()) {
            if slot.is_none() {
                *slot = fresh.get(word.as_str()).cloned();
            }
        }
        out
    }

    /// Raw IPA of whole clauses (letters, digits and spaces only; see [`clause_text`]) in another
    /// language's voice, one process for all; `None` if espeak-ng failed or misaligned.
    pub(crate) fn clauses(&self, clauses: &[String], voice: &str) -> Option<Vec<String>> {
        match self.run(clauses, voice) {
            Ok(lines) if lines.len() == clauses.len() => Some(lines),
            Ok(lines) => {
                tracing::warn!(
                    sent = clauses.len(),
                    got = lines.len(),
                    voice,
                    "espeak-ng output misaligned"
                );
                None
            }
            Err(why) => {
                tracing::warn!(%why, voice, "espeak-ng failed");
                None
            }
        }
    }

    /// One espeak-ng process for all `words` (or clauses); returns its output lines.
    fn run(&self, words: &[String], voice: &str) -> Result<Vec<String>, String> {
        let mut child = Command::new(&self.program)
            .args(["-q", "--ipa", "--tie=^", "-v", voice])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start: {e}"))?;
        let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("no pipes to the child".into());
        };
        let mut input = words.join("\n");
        input.push('\n');
        // Generous: ~1 ms per word is espeak-ng's usual pace; a hung child must not hang a request.
        let deadline = Duration::from_secs(5) + Duration::from_millis(5 * words.len() as u64);
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            // Writing and reading on separate threads: a large batch would otherwise deadlock on
            // full pipe buffers in both directions.
            s.spawn(move || {
                let _ = stdin.write_all(input.as_bytes());
            });
            s.spawn(move || {
                let mut buf = Vec::new();
                let _ = tx.send(stdout.read_to_end(&mut buf).map(|_| buf));
            });
            let result = rx.recv_timeout(deadline);
            if result.is_err() {
                let _ = child.kill();
            }
            let status = child.wait();
            match (result, status) {
                (Err(_), _) => Err(format!("timed out after {deadline:?}")),
                (Ok(Err(e)), _) => Err(format!("reading its output: {e}")),
                (Ok(Ok(_)), Ok(st)) if !st.success() => Err(format!("exited with {st}")),
                (Ok(Ok(_)), Err(e)) => Err(format!("waiting for it: {e}")),
                (Ok(Ok(buf)), Ok(_)) => Ok(String::from_utf8_lossy(&buf)
                    .lines()
                    .map(str::to_owned)
                    .collect()),
            }
        })
    }
}

/// Only letters and inner apostrophes go to espeak-ng: anything else could split an output line.
pub(crate) fn sendable(word: &str) -> bool {
    let n = word.chars().count();
    (1..=MAX_WORD_CHARS).contains(&n)
        && word.chars().all(|c| c.is_alphabetic() || c == '\'')
        && word.chars().next().is_some_and(char::is_alphabetic)
}

/// A clause made safe to send as one line: only letters, digits, apostrophes and single spaces
/// (anything else could make espeak-ng split the line and misalign the output).
pub(crate) fn clause_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c.is_mark() {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Marks (combining characters) count as part of a word: Devanagari vowel signs are marks.
trait IsMark {
    fn is_mark(&self) -> bool;
}

impl IsMark for char {
    fn is_mark(&self) -> bool {
        matches!(*self as u32, 0x0300..=0x036F | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963)
    }
}

/// espeak-ng IPA of a non-English voice → Kokoro symbols: language-switch tags such as `(en)`
/// dropped, tied affricates to Kokoro's single symbols, the rest as is (the caller filters
/// through the vocabulary, as kokoro-onnx does with espeak-ng's IPA).
pub(crate) fn foreign_ipa_to_kokoro(ipa: &str) -> String {
    let mut s = String::with_capacity(ipa.len());
    let mut in_tag = false;
    for c in ipa.chars() {
        match c {
            '(' => in_tag = true,
            ')' if in_tag => in_tag = false,
            _ if in_tag => {}
            _ => s.push(c),
        }
    }
    for (from, to) in [
        ("t^ʃ", "ʧ"),
        ("d^ʒ", "ʤ"),
        ("t^s", "ʦ"),
        ("d^z", "ʣ"),
        ("t^ɕ", "ʨ"),
        ("d^ʑ", "ʥ"),
        ("ʈ^ʂ", "ꭧ"),
        ("g", "ɡ"),
        ("^", ""),
    ] {
        s = s.replace(from, to);
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// espeak-ng IPA (with `^` ties) → Kokoro/misaki symbols. The result may still hold symbols
/// outside the vocabulary; the caller filters.
pub(crate) fn ipa_to_kokoro(ipa: &str, british: bool) -> String {
    let mut s = ipa.trim().replace('\u{303}', "");
    // Accent-specific rules go first: the generic `e` → `A` would otherwise eat `e^ə`.
    let accent: &[(&str, &str)] = if british {
        &[("e^ə", "ɛː"), ("ə^ʊ", "Q"), ("i^ə", "ɪə"), ("iə", "ɪə")]
    } else {
        &[("o^ʊ", "O"), ("ɪ^ə", "iə"), ("i^ə", "iə"), ("e^ə", "ɛɹ")]
    };
    const GENERIC: &[(&str, &str)] = &[
        ("ʔˌn\u{329}", "ʔn"),
        ("ʔn\u{329}", "ʔn"),
        ("a^ɪ", "I"),
        ("a^ʊ", "W"),
        ("d^ʒ", "ʤ"),
        ("e^ɪ", "A"),
        ("t^ʃ", "ʧ"),
        ("ɔ^ɪ", "Y"),
        ("ə^l", "ᵊl"),
        ("ʲo", "jo"),
        ("ʲə", "jə"),
        ("ʲ", ""),
        ("ɚ", "əɹ"),
        ("r", "ɹ"),
        ("x", "k"),
        ("ç", "k"),
        ("ɐ", "ə"),
        ("ɬ", "l"),
        ("e", "A"),
        ("g", "ɡ"),
    ];
    for (from, to) in accent.iter().chain(GENERIC) {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    // A syllabic mark makes its consonant a syllable: misaki writes that as a schwa before it.
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\u{329}' {
            if let Some(prev) = out.pop() {
                out.push('ᵊ');
                out.push(prev);
            }
        } else {
            out.push(c);
        }
    }
    if !british {
        out = out
            .replace("ɜːɹ", "ɜɹ")
            .replace("ɜː", "ɜɹ")
            .replace("ɪə", "iə")
            .replace('ː', "");
    }
    out.replace('o', "ɔ")
        .replace('ɾ', "T")
        .replace('ʔ', "t")
        .replace('^', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Default)]
struct Cache {
    current: HashMap<(bool, String), String>,
    previous: HashMap<(bool, String), String>,
}

impl Cache {
    fn get(&self, british: bool, word: &str) -> Option<String> {
        let key = (british, word.to_owned());
        self.current
            .get(&key)
            .or_else(|| self.previous.get(&key))
            .cloned()
    }

    fn put(&mut self, british: bool, word: &str, ipa: String) {
        if self.current.len() >= CACHE_WORDS / 2 {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert((british, word.to_owned()), ipa);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_espeak_ipa_to_kokoro_symbols() {
        for (ipa, british, want) in [
            ("həlˈo^ʊ", false, "həlˈO"),
            ("t^ʃˈɔ^ɪs", false, "ʧˈYs"),
            ("d^ʒˈʌd^ʒ", false, "ʤˈʌʤ"),
            ("kjˈuːbɚnˌiːts", false, "kjˈubəɹnˌits"),
            ("bˈʌʔn̩", false, "bˈʌtn"),
            ("bˈʌɾɚ", false, "bˈʌTəɹ"),
            ("zˌa^ɪləfˈɑːnɪk", false, "zˌIləfˈɑnɪk"),
            ("kæfˈe^ɪ", false, "kæfˈA"),
            ("ɡˈə^ʊt", true, "ɡˈQt"),
            ("kˈe^ə", true, "kˈɛː"),
            ("nˈi^ə", true, "nˈɪə"),
            ("bˈɒtə^l", true, "bˈɒtᵊl"),
            ("ɹˈɪðəm", false, "ɹˈɪðəm"),
            ("rɛd  ɡo", false, "ɹɛd ɡɔ"),
        ] {
            assert_eq!(ipa_to_kokoro(ipa, british), want, "{ipa}");
        }
    }

    #[test]
    fn foreign_ipa_and_clauses() {
        assert_eq!(
            foreign_ipa_to_kokoro("(en)t^ʃˈaɪniːz(ja)lˈe̞tə"),
            "ʧˈaɪniːzlˈe̞tə"
        );
        assert_eq!(foreign_ipa_to_kokoro("ˈola  kˈe"), "ˈola kˈe");
        assert_eq!(clause_text("¿Qué tal, amigo?"), "Qué tal amigo");
        assert_eq!(clause_text("नमस्ते दुनिया"), "नमस्ते दुनिया");
    }

    #[test]
    fn only_clean_words_are_sent() {
        assert!(sendable("Kubernetes"));
        assert!(sendable("O'Brien"));
        assert!(sendable("café"));
        assert!(!sendable("a.b"));
        assert!(!sendable("'tis"));
        assert!(!sendable(""));
        assert!(!sendable(&"a".repeat(MAX_WORD_CHARS + 1)));
    }

    #[test]
    fn cache_stays_bounded_and_keeps_recent_words() {
        let mut cache = Cache::default();
        for i in 0..(CACHE_WORDS * 2) {
            cache.put(false, &format!("w{i}"), "x".into());
        }
        assert!(cache.current.len() + cache.previous.len() <= CACHE_WORDS);
        assert_eq!(
            cache
                .get(false, &format!("w{}", CACHE_WORDS * 2 - 1))
                .as_deref(),
            Some("x")
        );
        assert_eq!(cache.get(false, "w0"), None);
        assert_eq!(
            cache.get(true, &format!("w{}", CACHE_WORDS * 2 - 1)),
            None,
            "accents are cached apart"
        );
    }
}
