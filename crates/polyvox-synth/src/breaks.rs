//! SSML `<break>`s inside a chunk: silence inserted into the chunk's audio where the break was
//! written, and the words after it moved by as much.
//!
//! Why inside, not at a chunk boundary: cutting the text at a break would change how the model
//! reads both halves (and add the edge silence of two more model calls), so a 500 ms break
//! would add some other, unknowable amount. Inserted into the model's own pause between the
//! two words (the middle of the space token, by the model's durations), the break adds exactly
//! its length and the speech around it stays what it was.

use polyvox_text::Chunk;

/// Word spans with their (start, end) samples in the chunk's audio.
type Words = Vec<(std::ops::Range<usize>, (usize, usize))>;

/// Inserts `chunk.breaks` into `pcm` (the model output cut to `kept`, faded), moving `words`.
/// Without durations the places are estimated from the ids' share of the audio.
pub(crate) fn insert(
    pcm: &mut Vec<f32>,
    words: &mut Words,
    durations: Option<&[u32]>,
    chunk: &Chunk,
    kept: &std::ops::Range<usize>,
    fade_ms: f32,
) {
    let place = |token: usize| -> usize {
        match durations {
            // Token 0 is the leading pad; id k is token k + 1.
            Some(d) => d.iter().take(token + 1).map(|&x| x as usize).sum(),
            None => {
                let ids = chunk.ids.len().max(1);
                kept.start + (kept.end - kept.start) * token.min(ids) / ids
            }
        }
    };
    let mut inserted = 0;
    for b in &chunk.breaks {
        let (from, to) = (place(b.ids.start), place(b.ids.end));
        let clamp = |x: usize| x.clamp(kept.start, kept.end) - kept.start;
        // The model's alignment is a frame or two off at times: take the quietest moment near
        // the written place, so the silence extends a pause instead of cutting into a sound.
        let near = clamp(from.saturating_sub(SEARCH))..clamp(to + SEARCH);
        let at = quietest(&pcm[inserted..], near, clamp((from + to) / 2)) + inserted;
        let at = at.min(pcm.len());
        let len = polyvox_audio::join::silence(b.ms).len();
        ramp(pcm, at, fade_ms);
        pcm.splice(at..at, std::iter::repeat_n(0.0, len));
        for (_, (s, e)) in words.iter_mut() {
            if *s >= at {
                *s += len;
            }
            if *e > at {
                *e += len;
            }
        }
        inserted += len;
    }
}

/// How far around the written place a break looks for the quietest moment: 50 ms.
const SEARCH: usize = 1_200;
/// The window whose energy decides "quiet": 10 ms.
const WINDOW: usize = 240;

/// The start of the quietest `WINDOW` in `range` of `pcm`, `fallback` if the range is too short.
fn quietest(pcm: &[f32], range: std::ops::Range<usize>, fallback: usize) -> usize {
    let end = range.end.min(pcm.len());
    if end < range.start + WINDOW {
        return fallback.min(pcm.len());
    }
    let energy = |s: usize| pcm[s..s + WINDOW].iter().map(|x| x * x).sum::<f32>();
    let mut best = (f32::INFINITY, fallback);
    let mut s = range.start;
    while s + WINDOW <= end {
        let (e, at) = (energy(s), s + WINDOW / 2);
        // Ties go to the one nearest the written place.
        if e < best.0 || (e == best.0 && at.abs_diff(fallback) < best.1.abs_diff(fallback)) {
            best = (e, at);
        }
        s += WINDOW / 4;
    }
    best.1
}

/// Fades the audio out just before `at` and in just after, so a cut that does not fall on
/// silence does not click.
fn ramp(pcm: &mut [f32], at: usize, fade_ms: f32) {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (fade_ms.max(0.0) * polyvox_core::SAMPLE_RATE as f32 / 1000.0) as usize;
    for i in 0..n {
        let g = i as f32 / n as f32;
        if let Some(x) = at.checked_sub(i + 1).and_then(|k| pcm.get_mut(k)) {
            *x *= g;
        }
        if let Some(x) = pcm.get_mut(at + i) {
            *x *= g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyvox_text::ChunkBreak;

    fn chunk(breaks: Vec<ChunkBreak>) -> Chunk {
        Chunk {
            index: 0,
            text: "a b".into(),
            span: 0..3,
            phonemes: "a b".into(),
            ids: vec![1, 16, 2],
            pause_after_ms: 0,
            oversized_atom: false,
            words: Vec::new(),
            rate: 1.0,
            breaks,
        }
    }

    #[test]
    fn a_break_lands_in_the_middle_of_the_space_and_moves_later_words() {
        // Pad 100, "a" 1000, " " 400, "b" 1000, pad 100: the space runs 1100..1500.
        let durations = [100, 1000, 400, 1000, 100];
        // Sound everywhere but a pause a little later than the model placed the space.
        let mut pcm = vec![0.5f32; 2600];
        pcm[1200..1600].fill(0.0);
        let mut words: Words = vec![(0..1, (100, 1100)), (2..3, (1500, 2500))];
        let c = chunk(vec![ChunkBreak { ids: 1..2, ms: 500 }]);
        insert(&mut pcm, &mut words, Some(&durations), &c, &(0..2600), 0.0);
        assert_eq!(pcm.len(), 2600 + 12_000);
        let quiet = pcm.iter().filter(|&&x| x == 0.0).count();
        assert_eq!(
            quiet,
            400 + 12_000,
            "the silence joins the pause; no sound is cut"
        );
        let at = pcm.iter().position(|&x| x == 0.0).unwrap();
        assert!((1200..1600).contains(&at), "{at}");
        assert!(pcm[at..at + 12_400].iter().all(|&x| x == 0.0));
        assert_eq!(words[0].1, (100, 1100));
        assert_eq!(words[1].1, (13_500, 14_500));
    }
}
