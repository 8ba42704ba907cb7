//! Attribute values and `say-as` contents: parsed into typed values, or an error message (the
//! parser adds the position).

use super::{KOKORO_PHONEMES, MAX_BREAK_MS, short};

/// How a replaced token is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// `<sub alias>`: the alias, read as text.
    Alias(String),
    /// `<phoneme ph>`: Kokoro symbols, each in [`KOKORO_PHONEMES`] (spaces between words).
    Phonemes(String),
    /// `characters` / `spell-out`: letters and digits named one by one.
    Characters(Vec<char>),
    /// `cardinal`: an integer.
    Cardinal { negative: bool, value: u64 },
    /// `ordinal`.
    Ordinal(u64),
    /// `digits`: each digit named.
    Digits(String),
    /// `date`, the parts the format gave.
    Date(DateParts),
    /// `time`, 24-hour clock unless `pm` says otherwise.
    Time {
        hour: u8,
        minute: u8,
        meridiem: Option<Meridiem>,
    },
    /// `telephone`: digit groups, read digit by digit with a pause between groups.
    Telephone { plus: bool, groups: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meridiem {
    Am,
    Pm,
}

/// The parts of a `say-as date`, as its `format` listed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateParts {
    pub year: Option<u16>,
    pub month: Option<u8>,
    pub day: Option<u8>,
}

impl Reading {
    /// Plain letters/digits of the reading, for language detection.
    pub fn plain(&self) -> String {
        match self {
            Self::Alias(a) => a.clone(),
            _ => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SayAsKind {
    Characters,
    Cardinal,
    Ordinal,
    Digits,
    Date,
    Time,
    Telephone,
}

impl SayAsKind {
    pub(super) fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "characters" | "spell-out" => Self::Characters,
            "cardinal" | "number" => Self::Cardinal,
            "ordinal" => Self::Ordinal,
            "digits" => Self::Digits,
            "date" => Self::Date,
            "time" => Self::Time,
            "telephone" => Self::Telephone,
            other => {
                return Err(format!(
                    "say-as interpret-as '{}' is not supported; use characters, spell-out, cardinal, ordinal, digits, date, time or telephone",
                    short(other)
                ));
            }
        })
    }
}

/// A `<break>`'s length: `time` (`500ms`, `1.2s`) wins over `strength`; neither is `medium`.
pub(super) fn break_ms(time: Option<&str>, strength: Option<&str>) -> Result<u32, String> {
    if let Some(t) = time {
        let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = t.strip_suffix('s') {
            (n, 1000.0)
        } else {
            return Err(format!(
                "break time '{}' needs a unit: 500ms or 1.5s",
                short(t)
            ));
        };
        let v: f64 = num
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0 && !num.trim().starts_with('+'))
            .ok_or_else(|| {
                format!(
                    "break time '{}' is not a non-negative number of ms or s",
                    short(t)
                )
            })?;
        let ms = v * scale;
        if ms > f64::from(MAX_BREAK_MS) {
            return Err(format!(
                "break time '{}' is over the {} s maximum",
                short(t),
                MAX_BREAK_MS / 1000
            ));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Ok(ms.round() as u32);
    }
    Ok(match strength.unwrap_or("medium") {
        "none" => 0,
        "x-weak" => 100,
        "weak" => 250,
        "medium" => 500,
        "strong" => 800,
        "x-strong" => 1200,
        other => {
            return Err(format!(
                "break strength '{}' is not none, x-weak, weak, medium, strong or x-strong",
                short(other)
            ));
        }
    })
}

/// A `<prosody rate>` as a multiplier of the speed: a keyword, a percentage (`50%`, `+20%`)
/// or a bare multiplier (`1.5`).
pub(super) fn rate(s: &str) -> Result<f32, String> {
    let bad = || {
        format!(
            "prosody rate '{}' is not x-slow, slow, medium, fast, x-fast, a percentage (50%, +20%) or a multiplier (1.5)",
            short(s)
        )
    };
    let r = match s {
        "x-slow" => 0.5,
        "slow" => 0.75,
        "medium" | "default" => 1.0,
        "fast" => 1.25,
        "x-fast" => 1.5,
        _ => {
            if let Some(p) = s.strip_suffix('%') {
                let v: f32 = p.trim_start_matches('+').parse().map_err(|_| bad())?;
                if p.starts_with(['+', '-']) {
                    (100.0 + v) / 100.0
                } else {
                    v / 100.0
                }
            } else {
                s.parse().map_err(|_| bad())?
            }
        }
    };
    if !(r.is_finite() && r > 0.0 && r <= 10.0) {
        return Err(format!(
            "prosody rate '{}' must give a multiplier above 0 and at most 10",
            short(s)
        ));
    }
    Ok(r)
}

/// `ph` as Kokoro symbols: every symbol must be one of [`KOKORO_PHONEMES`]; ASCII `g` is taken
/// as IPA `ɡ`, and whitespace separates words.
pub(super) fn phonemes(ph: &str) -> Result<String, String> {
    let mut out = String::with_capacity(ph.len());
    for c in ph.split_whitespace().collect::<Vec<_>>().join(" ").chars() {
        let c = if c == 'g' { 'ɡ' } else { c };
        if c != ' ' && !KOKORO_PHONEMES.contains(c) {
            return Err(format!(
                "phoneme symbol '{c}' (U+{:04X}) is not in the model's vocabulary",
                c as u32
            ));
        }
        out.push(c);
    }
    if out.is_empty() {
        return Err("phoneme ph is empty".into());
    }
    Ok(out)
}

/// The contents of a `say-as`, checked against its `interpret-as`.
pub(super) fn say_as(kind: SayAsKind, format: Option<&str>, text: &str) -> Result<Reading, String> {
    let digits_of = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let bad = |what: &str| format!("'{}' is not {what}", short(text));
    Ok(match kind {
        SayAsKind::Characters => {
            let chars: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).collect();
            if chars.is_empty() {
                return Err(bad("letters or digits to spell"));
            }
            Reading::Characters(chars)
        }
        SayAsKind::Cardinal => {
            let (negative, body) = match text.strip_prefix(['-', '−']) {
                Some(b) => (true, b),
                None => (false, text),
            };
            let grouped = body
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == ' ');
            let digits = digits_of(body);
            if !grouped || digits.is_empty() || digits.len() > 15 {
                return Err(bad("an integer of at most 15 digits"));
            }
            Reading::Cardinal {
                negative,
                value: digits.parse().map_err(|_| bad("an integer"))?,
            }
        }
        SayAsKind::Ordinal => {
            let body = text
                .trim_end_matches(['.', 'º', 'ª'])
                .trim_end_matches(|c: char| c.is_ascii_alphabetic());
            if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit()) || body.len() > 15 {
                return Err(bad("an ordinal number such as 3 or 3rd"));
            }
            Reading::Ordinal(body.parse().map_err(|_| bad("an ordinal number"))?)
        }
        SayAsKind::Digits => {
            if !text
                .chars()
                .all(|c| c.is_ascii_digit() || " -.".contains(c))
                || digits_of(text).is_empty()
            {
                return Err(bad("a string of digits"));
            }
            Reading::Digits(digits_of(text))
        }
        SayAsKind::Date => Reading::Date(date(format.unwrap_or("ymd"), text)?),
        SayAsKind::Time => time(text).ok_or_else(|| bad("a time such as 14:30 or 2:30 pm"))?,
        SayAsKind::Telephone => {
            if !text
                .chars()
                .all(|c| c.is_ascii_digit() || " -.()+/".contains(c))
                || digits_of(text).len() < 3
            {
                return Err(bad("a telephone number"));
            }
            let groups = text
                .split(|c: char| !c.is_ascii_digit())
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect();
            Reading::Telephone {
                plus: text.starts_with('+'),
                groups,
            }
        }
    })
}

fn date(format: &str, text: &str) -> Result<DateParts, String> {
    if format.is_empty() || format.len() > 3 || !format.chars().all(|c| "ymd".contains(c)) {
        return Err(format!(
            "say-as date format '{}' is not one of mdy, dmy, ymd, md, dm, ym, my, y, m, d",
            short(format)
        ));
    }
    let parts: Vec<&str> = text
        .split(['-', '/', '.', ' '])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != format.len()
        || parts
            .iter()
            .any(|p| !p.chars().all(|c| c.is_ascii_digit()) || p.len() > 4)
    {
        return Err(format!(
            "'{}' does not match the date format '{format}'",
            short(text)
        ));
    }
    let mut d = DateParts::default();
    for (f, p) in format.chars().zip(parts) {
        let n: u16 = p
            .parse()
            .map_err(|_| format!("'{}' is not a date", short(text)))?;
        match f {
            'y' => d.year = Some(n),
            'm' if (1..=12).contains(&n) => d.month = u8::try_from(n).ok(),
            'd' if (1..=31).contains(&n) => d.day = u8::try_from(n).ok(),
            _ => return Err(format!("'{}' has a month or day out of range", short(text))),
        }
    }
    Ok(d)
}

fn time(text: &str) -> Option<Reading> {
    let lower = text.to_ascii_lowercase().replace('.', "");
    let (clock, meridiem) = if let Some(c) = lower.strip_suffix("am") {
        (c.trim(), Some(Meridiem::Am))
    } else if let Some(c) = lower.strip_suffix("pm") {
        (c.trim(), Some(Meridiem::Pm))
    } else {
        (lower.trim(), None)
    };
    let (h, m) = clock.split_once(':').unwrap_or((clock, "00"));
    let m = m.split(':').next().unwrap_or("00");
    let hour: u8 = h.parse().ok().filter(|_| (1..=2).contains(&h.len()))?;
    let minute: u8 = m.parse().ok().filter(|_| m.len() == 2)?;
    let hour_ok = if meridiem.is_some() {
        (1..=12).contains(&hour)
    } else {
        hour < 24
    };
    (hour_ok && minute < 60).then_some(Reading::Time {
        hour,
        minute,
        meridiem,
    })
}
