//! The catalogue of Kokoro v1.0 voices and the voice-spec grammar (single voices and weighted blends).
//!
//! Users name voices three ways: Kokoro ids (`af_bella`), display names (`Bella`), and OpenAI's voice
//! names (`alloy`, `shimmer`, ...). All resolve here to canonical Kokoro ids, so nothing downstream
//! sees an alias.

use crate::{Error, ErrorCode, Lang};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
}

/// One voice of the catalogue.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct VoiceInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub lang: Lang,
    pub gender: Gender,
    /// Extra names that resolve to this voice (OpenAI voice names, legacy catalogue names).
    pub aliases: &'static [&'static str],
}

macro_rules! voices {
    ($( $id:literal $name:literal [$($alias:literal),*] ),* $(,)?) => {
        &[$( VoiceInfo {
            id: $id,
            name: $name,
            lang: match Lang::of_voice($id) { Some(l) => l, None => Lang::EnUs },
            gender: if $id.as_bytes()[1] == b'f' { Gender::Female } else { Gender::Male },
            aliases: &[$($alias),*],
        } ),*]
    };
}

/// All 54 Kokoro v1.0 voices. Where two voices share a display name (Santa, Alex, Dora, Alpha), the
/// display name resolves to the first one listed; the others are reachable by id.
pub static VOICES: &[VoiceInfo] = voices![
    "af_heart" "Heart" ["coral"],
    "af_alloy" "Alloy" ["alloy"],
    "af_aoede" "Aoede" [],
    "af_bella" "Bella" ["shimmer"],
    "af_jessica" "Jessica" [],
    "af_kore" "Kore" [],
    "af_nicole" "Nicole" [],
    "af_nova" "Nova" ["nova"],
    "af_river" "River" [],
    "af_sarah" "Sarah" ["sage"],
    "af_sky" "Sky" [],
    "am_adam" "Adam" ["ash"],
    "am_echo" "Echo" ["echo"],
    "am_eric" "Eric" [],
    "am_fenrir" "Fenrir" [],
    "am_liam" "Liam" [],
    "am_michael" "Michael" ["verse"],
    "am_onyx" "Onyx" ["onyx"],
    "am_puck" "Puck" [],
    "am_santa" "Santa" [],
    "bf_alice" "Alice" [],
    "bf_emma" "Emma" [],
    "bf_isabella" "Isabella" [],
    "bf_lily" "Lily" [],
    "bm_daniel" "Daniel" [],
    "bm_fable" "Fable" ["fable"],
    "bm_george" "George" ["ballad"],
    "bm_lewis" "Lewis" [],
    "ef_dora" "Dora" [],
    "em_alex" "Alex" [],
    "em_santa" "Santa" [],
    "ff_siwis" "Siwis" [],
    "hf_alpha" "Alpha" [],
    "hf_beta" "Beta" [],
    "hm_omega" "Omega" [],
    "hm_psi" "Psi" [],
    "if_sara" "Sara" [],
    "im_nicola" "Nicola" [],
    "jf_alpha" "Misaki" ["misaki"],
    "jf_gongitsune" "Gongitsune" [],
    "jf_nezumi" "Nezumi" [],
    "jf_tebukuro" "Tebukuro" [],
    "jm_kumo" "Kumo" [],
    "pf_dora" "Dora" [],
    "pm_alex" "Alex" [],
    "pm_santa" "Santa" [],
    "zf_xiaobei" "Xiaobei" [],
    "zf_xiaoni" "Xiaoni" [],
    "zf_xiaoxiao" "Xiaoxiao" [],
    "zf_xiaoyi" "Xiaoyi" [],
    "zm_yunjian" "Yunjian" [],
    "zm_yunxi" "Yunxi" [],
    "zm_yunxia" "Yunxia" [],
    "zm_yunyang" "Yunyang" [],
];

/// Most components a blend may have; more adds nothing audible and costs a style lookup each.
pub const MAX_BLEND_VOICES: usize = 8;

/// Smallest share of a blend a component may have after normalization. [`VoiceSpec::canonical`]
/// prints shares with four decimals, so a smaller one would print as `0.0000` and the canonical
/// form (which jobs store and workers parse again) would no longer parse; it would be inaudible
/// anyway.
pub const MIN_BLEND_SHARE: f32 = 0.001;

/// Whether `share` is at least [`MIN_BLEND_SHARE`] once rounded to the four decimals
/// [`VoiceSpec::canonical`] prints.
pub fn meets_min_share(share: f32) -> bool {
    (share * 10_000.0).round() >= (MIN_BLEND_SHARE * 10_000.0).round()
}

/// Looks a voice up by id, display name or alias (case-insensitive).
pub fn resolve(name: &str) -> Option<&'static VoiceInfo> {
    let name = name.trim();
    VOICES
        .iter()
        .find(|v| v.id.eq_ignore_ascii_case(name))
        .or_else(|| {
            VOICES
                .iter()
                .find(|v| v.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
        })
        .or_else(|| VOICES.iter().find(|v| v.name.eq_ignore_ascii_case(name)))
}

/// A voice as requested: one voice, or a weighted blend whose weights sum to 1.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VoiceSpec {
    /// Canonical Kokoro ids with normalized weights (sum 1), in the order given.
    pub parts: Vec<(&'static str, f32)>,
}

impl VoiceSpec {
    pub fn single(id: &str) -> Result<Self, Error> {
        Self::parse(id, "voice")
    }

    /// Parses `af_bella`, `Bella`, `alloy`, or blends like `af_bella(2)+af_sky(1)` and
    /// `af_bella+af_sky` (equal weights). `field` names the request field in errors.
    pub fn parse(s: &str, field: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::new(
                ErrorCode::VoiceNotFound,
                format!("{field} must not be empty"),
            ));
        }
        let blend_err = |why: String| {
            Error::new(
                ErrorCode::InvalidVoiceBlend,
                format!("{field} '{s}': {why}"),
            )
        };
        let pieces: Vec<&str> = s.split('+').map(str::trim).collect();
        if pieces.len() > MAX_BLEND_VOICES {
            return Err(blend_err(format!(
                "a blend may have at most {MAX_BLEND_VOICES} voices"
            )));
        }
        let mut parts: Vec<(&'static str, f32)> = Vec::with_capacity(pieces.len());
        for piece in pieces {
            if piece.is_empty() {
                return Err(blend_err("empty voice between '+' signs".into()));
            }
            let (name, weight) = match piece.split_once('(') {
                None => (piece, 1.0),
                Some((name, rest)) => {
                    let Some(num) = rest.strip_suffix(')') else {
                        return Err(blend_err(format!("'{piece}' must look like voice(weight)")));
                    };
                    let w: f32 = num
                        .trim()
                        .parse()
                        .map_err(|_| blend_err(format!("weight '{num}' is not a number")))?;
                    if !(w.is_finite() && w > 0.0 && w <= 100.0) {
                        return Err(blend_err(format!("weight {num} must be in (0, 100]")));
                    }
                    (name.trim(), w)
                }
            };
            let Some(info) = resolve(name) else {
                return Err(Error::new(
                    ErrorCode::VoiceNotFound,
                    format!(
                        "{field}: voice '{name}' does not exist; GET /v1/voices lists the {} voices",
                        VOICES.len()
                    ),
                ));
            };
            if let Some(p) = parts.iter_mut().find(|(id, _)| *id == info.id) {
                p.1 += weight;
            } else {
                parts.push((info.id, weight));
            }
        }
        let total: f32 = parts.iter().map(|p| p.1).sum();
        for p in &mut parts {
            p.1 /= total;
        }
        // Judged on the share as `canonical` prints it (four decimals): a share printed as
        // 0.0010 parses back to at least 0.00099960, which prints as 0.0010 again, so the
        // canonical form of an accepted blend is always accepted too.
        if let Some((id, share)) = parts.iter().find(|p| !meets_min_share(p.1)) {
            return Err(blend_err(format!(
                "{id} would make up {:.5}% of the blend, less than the minimum {}%; raise its \
                 weight or leave it out",
                share * 100.0,
                MIN_BLEND_SHARE * 100.0
            )));
        }
        Ok(Self { parts })
    }

    /// The voice whose language decides the default language (the heaviest component).
    pub fn primary(&self) -> &'static str {
        self.parts
            .iter()
            .fold(None::<(&'static str, f32)>, |best, &(id, w)| match best {
                Some((_, bw)) if bw >= w => best,
                _ => Some((id, w)),
            })
            .map(|(id, _)| id)
            .unwrap_or("af_heart")
    }

    /// Canonical text form, used in cache keys and logs: `af_bella(0.6667)+af_sky(0.3333)`.
    pub fn canonical(&self) -> String {
        if self.parts.len() == 1 {
            return self.parts[0].0.to_string();
        }
        self.parts
            .iter()
            .map(|(id, w)| format!("{id}({w:.4})"))
            .collect::<Vec<_>>()
            .join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_54_unique_ids() {
        assert_eq!(VOICES.len(), 54);
        let mut ids: Vec<_> = VOICES.iter().map(|v| v.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 54);
        assert!(VOICES.iter().all(|v| Lang::of_voice(v.id) == Some(v.lang)));
    }

    #[test]
    fn resolves_ids_names_and_openai_aliases() {
        assert_eq!(
            VoiceSpec::parse("af_bella", "voice").unwrap().canonical(),
            "af_bella"
        );
        assert_eq!(
            VoiceSpec::parse("Bella", "voice").unwrap().canonical(),
            "af_bella"
        );
        assert_eq!(
            VoiceSpec::parse("alloy", "voice").unwrap().canonical(),
            "af_alloy"
        );
        assert_eq!(
            VoiceSpec::parse("shimmer", "voice").unwrap().canonical(),
            "af_bella"
        );
        assert_eq!(
            VoiceSpec::parse("Misaki", "voice").unwrap().canonical(),
            "jf_alpha"
        );
        assert_eq!(
            VoiceSpec::parse("SKY", "voice").unwrap().canonical(),
            "af_sky"
        );
    }

    #[test]
    fn parses_weighted_blends() {
        let v = VoiceSpec::parse("af_bella(2)+af_sky(1)", "voice").unwrap();
        assert_eq!(v.parts.len(), 2);
        assert!((v.parts[0].1 - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(v.primary(), "af_bella");
        let eq = VoiceSpec::parse("af_bella + am_adam", "voice").unwrap();
        assert!((eq.parts[1].1 - 0.5).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_blends_with_stable_codes() {
        for (input, code) in [
            ("af_bella(2", ErrorCode::InvalidVoiceBlend),
            ("af_bella(x)+af_sky", ErrorCode::InvalidVoiceBlend),
            ("af_bella(0)+af_sky", ErrorCode::InvalidVoiceBlend),
            ("af_bella(-1)+af_sky", ErrorCode::InvalidVoiceBlend),
            ("af_bella++af_sky", ErrorCode::InvalidVoiceBlend),
            ("af_bella(inf)", ErrorCode::InvalidVoiceBlend),
            ("af_bella(100)+af_sky(0.001)", ErrorCode::InvalidVoiceBlend),
            // Found by tests/prop_voice.rs: its canonical form had `af_heart(0.0000)`.
            (
                "af_heart(0.00037772427)+af_alloy(8.362267)",
                ErrorCode::InvalidVoiceBlend,
            ),
            ("nobody", ErrorCode::VoiceNotFound),
            ("af_bella+nobody", ErrorCode::VoiceNotFound),
            ("", ErrorCode::VoiceNotFound),
        ] {
            let err = VoiceSpec::parse(input, "voice").unwrap_err();
            assert_eq!(err.code, code, "{input}: {err}");
            assert!(
                err.message.contains("voice"),
                "message names the field: {err}"
            );
        }
        // Found by tests/prop_voice.rs (20 000 cases): af_aoede's share, 0.00100049, printed as
        // 0.0010 and re-normalized to 0.00099990, so the canonical form was refused.
        let edge = "af_heart(0.066486105)+af_heart(10.566726)+af_alloy(0.043123156)+\
                    af_aoede(0.01155236)+af_bella(0.79689956)";
        let canonical = VoiceSpec::parse(edge, "voice").unwrap().canonical();
        let again = VoiceSpec::parse(&canonical, "voice").expect("canonical form parses");
        assert_eq!(again.parts.len(), 4);
        let many = ["af_bella"; MAX_BLEND_VOICES + 1].join("+");
        assert_eq!(
            VoiceSpec::parse(&many, "voice").unwrap_err().code,
            ErrorCode::InvalidVoiceBlend
        );
    }
}
