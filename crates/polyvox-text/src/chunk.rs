//! Chunking: phoneme segments → model-sized chunks with pauses between them.
//!
//! Segments that read the same input span form an atom that is never split (the words of
//! "$5.50"), except an atom longer than `max_ids`, which is cut at a space inside it or else
//! between phonemes, its span divided in proportion. A smaller per-chunk budget (the streaming
//! ramp below) never cuts an atom: a chunk whose first atom is over its budget holds that atom
//! alone. Between atoms lie break opportunities ranked
//! sentence > clause > word > glue (next to a bracket or quote). The chunker is greedy: it takes as
//! many atoms as fit the id budget, then cuts at the strongest break inside that window, the last
//! one among equals. So short sentences share a chunk (fewer model calls), long ones are cut at
//! clauses, and unpunctuated text between words.
//!
//! Streaming: the first chunk has its own, usually much smaller, budget so the first audio leaves
//! early. A first budget that still holds a whole sentence defeats that (the greedy window then
//! cuts at the sentence end), so streams pass a budget of a word or two (~12 ids) and the cut falls
//! at the last clause or word break inside it. The budgets after it then double (first × 2^k,
//! capped at `max_ids`): the model renders faster than real time, so each chunk is ready before
//! the audio already sent has played, instead of the listener waiting on one full-size second
//! chunk after a tiny first one.
//!
//! Chunk spans partition the input: each chunk runs from the start of its first atom to the start
//! of the next chunk's (the first from 0, the last to the end), trimmed of whitespace. Text that
//! produced no phonemes (emoji, dropped symbols) is thus still covered, by its neighbour.

use std::ops::Range;

use polyvox_core::MODEL_MAX_IDS;

use crate::TextError;
use crate::g2p::Seg;
use crate::normalize::Gap;
use crate::vocab::Vocab;

/// Id budgets of chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Most ids per chunk (pads excluded); capped at [`MODEL_MAX_IDS`].
    pub max_ids: usize,
    /// Most ids in the first chunk; streaming passes ~12 so the first audio comes fast. Capped at
    /// `max_ids`. When smaller than `max_ids`, later budgets ramp up from it (see the module note).
    pub first_max_ids: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            max_ids: 250,
            first_max_ids: 250,
        }
    }
}

impl ChunkOptions {
    /// Options for streaming: a short first chunk, then budgets doubling up to the default.
    pub fn streaming() -> Self {
        Self {
            max_ids: 250,
            first_max_ids: 12,
        }
    }

    /// Budget of chunk `index` given the capped (first, rest) budgets: the first, then doubling.
    pub(crate) fn budget(first: usize, max: usize, index: usize) -> usize {
        let shift = u32::try_from(index).unwrap_or(u32::MAX).min(16);
        first.saturating_mul(1 << shift).min(max)
    }

    /// (first, rest) budgets after capping; zero budgets are an error.
    fn budgets(&self) -> Result<(usize, usize), TextError> {
        if self.max_ids == 0 || self.first_max_ids == 0 {
            return Err(TextError::InvalidOptions(format!(
                "max_ids ({}) and first_max_ids ({}) must be at least 1",
                self.max_ids, self.first_max_ids
            )));
        }
        let max = self.max_ids.min(MODEL_MAX_IDS);
        Ok((self.first_max_ids.min(max), max))
    }
}

/// One model call's worth of text.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Position of this chunk in the text, from 0.
    pub index: usize,
    /// The original input this chunk covers (a contiguous span, trimmed of whitespace).
    pub text: String,
    /// Byte range of `text` in the input.
    pub span: Range<usize>,
    /// Kokoro phoneme symbols.
    pub phonemes: String,
    /// Vocabulary ids of `phonemes`, without the 0 pads; `1 <= len <= max_ids`.
    pub ids: Vec<i64>,
    /// Silence to insert after this chunk: longest after a paragraph or sentence, shorter after a
    /// clause, none inside a sentence cut for length (and none after the last chunk).
    pub pause_after_ms: u32,
    /// One atom (a word, or a token read as several words such as "1:01 pm") longer than this
    /// chunk's budget: held whole because only `max_ids` may cut inside an atom.
    pub oversized_atom: bool,
    /// The written words this chunk speaks, in order, each with the ids that speak it.
    pub words: Vec<ChunkWord>,
    /// Multiplier of the request's speed for this chunk (SSML `<prosody rate>`); 1 otherwise.
    /// A chunk never mixes rates: the model takes one speed per call.
    pub rate: f32,
    /// Silences to insert inside this chunk's audio (SSML `<break>`), in order. A break that
    /// falls between two chunks is in the earlier one's `pause_after_ms` instead.
    pub breaks: Vec<ChunkBreak>,
}

/// A silence inserted into a chunk's audio where a `<break>` was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkBreak {
    /// The ids between the words the break separates (the space, if any): the silence goes in
    /// the middle of their sound, which is the model's own pause. Empty at a word boundary
    /// without a space; `0..0` before the first word.
    pub ids: Range<usize>,
    pub ms: u32,
}

/// What SSML adds to one segment: its rate, and the silence written before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Mark {
    pub rate: f32,
    pub break_ms: u32,
}

impl Default for Mark {
    fn default() -> Self {
        Self {
            rate: 1.0,
            break_ms: 0,
        }
    }
}

/// One written word (or token read as several words, "$5.50") of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkWord {
    /// Byte range of the word in the input.
    pub span: Range<usize>,
    /// Range of `Chunk::ids` that speaks it.
    pub ids: Range<usize>,
}

/// Strength of a break opportunity before an atom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Break {
    rank: u8,
    pause_ms: u32,
}

const INSIDE: Break = Break {
    rank: 0,
    pause_ms: 0,
};
const GLUE: Break = Break {
    rank: 1,
    pause_ms: 0,
};
const WORD: Break = Break {
    rank: 2,
    pause_ms: 0,
};

#[derive(Debug, Clone)]
struct Atom {
    span: Range<usize>,
    phonemes: String,
    len: usize,
    sep_before: bool,
    punct: Option<char>,
    gap: Gap,
    brk: Break,
    rate: f32,
    /// Silence written before this atom (SSML).
    break_ms: u32,
}

/// Groups segments into atoms and ranks the breaks between them. `marks` is empty or one per
/// segment.
fn atoms(segs: &[Seg], marks: &[Mark]) -> Vec<Atom> {
    let mut atoms: Vec<Atom> = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let mark = marks.get(i).copied().unwrap_or_default();
        if let Some(a) = atoms.last_mut()
            && a.span == seg.span
        {
            a.break_ms += mark.break_ms;
            if seg.space_before {
                a.phonemes.push(' ');
            }
            a.phonemes.push_str(&seg.phonemes);
            a.punct = None;
            continue;
        }
        atoms.push(Atom {
            span: seg.span.clone(),
            phonemes: seg.phonemes.clone(),
            len: 0,
            sep_before: seg.space_before,
            punct: seg.punct,
            gap: seg.gap,
            brk: WORD,
            rate: mark.rate,
            break_ms: mark.break_ms,
        });
    }
    for k in 0..atoms.len() {
        atoms[k].len = atoms[k].phonemes.chars().count();
        atoms[k].brk = if k == 0 {
            WORD
        } else {
            rank(&atoms[..k], &atoms[k])
        };
    }
    atoms
}

/// The break before `next`, given everything before it.
fn rank(before: &[Atom], next: &Atom) -> Break {
    let closing = |a: &Atom| matches!(a.punct, Some(c) if ",.;:!?…)”".contains(c) || (c == '"' && a.gap == Gap::None));
    let opening = |a: &Atom| {
        matches!(a.punct, Some('(' | '“')) || (a.punct == Some('"') && next.gap == Gap::None)
    };
    if closing(next) || before.last().is_some_and(opening) {
        return GLUE;
    }
    // The strongest mark in the run of punctuation just before the break.
    let mut best = WORD;
    for a in before.iter().rev().take_while(|a| a.punct.is_some()) {
        let b = match a.punct {
            Some('.' | '!' | '?') => Break {
                rank: 4,
                pause_ms: 300,
            },
            Some('…') => Break {
                rank: 3,
                pause_ms: 300,
            },
            Some(';' | ':' | '—') => Break {
                rank: 3,
                pause_ms: 200,
            },
            Some(',') => Break {
                rank: 3,
                pause_ms: 150,
            },
            _ => WORD,
        };
        if (b.rank, b.pause_ms) > (best.rank, best.pause_ms) {
            best = b;
        }
    }
    match next.gap {
        Gap::Paragraph => Break {
            rank: 4,
            pause_ms: 600,
        },
        Gap::Line if best.rank < 3 => Break {
            rank: 3,
            pause_ms: 250,
        },
        _ => best,
    }
}

/// Cuts atom `k` so its head fits `limit` ids: at the last space that fits, else between
/// phonemes (not right after a stress mark). The input span is divided in proportion.
fn split_atom(atoms: &mut Vec<Atom>, k: usize, limit: usize, text: &str) {
    let atom = &atoms[k];
    let chars: Vec<char> = atom.phonemes.chars().collect();
    let space = chars[..=limit.min(chars.len() - 1)]
        .iter()
        .rposition(|&c| c == ' ')
        .filter(|&p| p > 0);
    let (head_end, tail_start) = match space {
        Some(p) => (p, p + 1),
        None => {
            let mut cut = limit;
            if cut > 1 && matches!(chars[cut - 1], 'ˈ' | 'ˌ') {
                cut -= 1;
            }
            (cut, cut)
        }
    };
    let (span, total) = (atom.span.clone(), chars.len());
    let mut mid = span.start + (span.end - span.start) * head_end / total.max(1);
    while mid > span.start && !text.is_char_boundary(mid) {
        mid -= 1;
    }
    let tail = Atom {
        span: mid..span.end,
        phonemes: chars[tail_start..].iter().collect(),
        len: total - tail_start,
        sep_before: tail_start > head_end,
        punct: None,
        gap: Gap::None,
        brk: INSIDE,
        rate: atom.rate,
        break_ms: 0,
    };
    let head = &mut atoms[k];
    head.span = span.start..mid;
    head.phonemes = chars[..head_end].iter().collect();
    head.len = head_end;
    atoms.insert(k + 1, tail);
}

/// Packs segments into chunks (see the module note).
pub(crate) fn chunk(
    text: &str,
    segs: &[Seg],
    opts: &ChunkOptions,
    vocab: &Vocab,
) -> Result<Vec<Chunk>, TextError> {
    chunk_marked(text, segs, &[], 0, opts, vocab)
}

/// [`chunk`] with SSML's marks (one per segment, or none): a rate change always cuts, and
/// breaks become silences inside chunks or longer pauses between them; `trailing_ms` is
/// written after the last segment.
pub(crate) fn chunk_marked(
    text: &str,
    segs: &[Seg],
    marks: &[Mark],
    trailing_ms: u32,
    opts: &ChunkOptions,
    vocab: &Vocab,
) -> Result<Vec<Chunk>, TextError> {
    let (first, max) = opts.budgets()?;
    let mut atoms = atoms(segs, marks);
    if !atoms.iter().any(|a| a.punct.is_none()) {
        return Err(TextError::NothingToSpeak);
    }
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut s = 0;
    while s < atoms.len() {
        let limit = ChunkOptions::budget(first, max, ranges.len());
        // Only the model's own cap cuts inside an atom: a streaming budget smaller than the
        // next word takes that word whole rather than cutting it between phonemes.
        if atoms[s].len > max {
            split_atom(&mut atoms, s, max, text);
        }
        let (mut cost, mut e) = (atoms[s].len, s + 1);
        let mut rate_change = false;
        while let Some(a) = atoms.get(e) {
            let next = cost + usize::from(a.sep_before) + a.len;
            rate_change = a.rate != atoms[s].rate;
            if next > limit || rate_change {
                break;
            }
            cost = next;
            e += 1;
        }
        let end = if e == atoms.len() || rate_change {
            e
        } else {
            (s + 1..=e)
                .max_by_key(|&b| (atoms[b].brk.rank, b))
                .unwrap_or(e)
        };
        ranges.push(s..end);
        s = end;
    }
    let mut chunks: Vec<Chunk> = Vec::with_capacity(ranges.len());
    let mut from = 0;
    for (index, r) in ranges.iter().enumerate() {
        let to = match ranges.get(index + 1) {
            Some(next) => atoms[next.start].span.start.clamp(from, text.len()),
            None => text.len(),
        };
        let mut phonemes = String::new();
        let mut words = Vec::new();
        let mut breaks = Vec::new();
        let mut at = 0;
        for (k, a) in atoms[r.clone()].iter().enumerate() {
            let pause_from = at;
            if k > 0 && a.sep_before {
                phonemes.push(' ');
                at += 1;
            }
            if a.break_ms > 0 {
                match (k, chunks.last_mut()) {
                    (0, Some(prev)) => prev.pause_after_ms += a.break_ms,
                    _ => breaks.push(ChunkBreak {
                        ids: pause_from..at,
                        ms: a.break_ms,
                    }),
                }
            }
            phonemes.push_str(&a.phonemes);
            // One char is one id (the vocabulary filter ran before chunking).
            if a.punct.is_none() && !a.span.is_empty() {
                words.push(ChunkWord {
                    span: a.span.clone(),
                    ids: at..at + a.len,
                });
            }
            at += a.len;
        }
        let raw = &text[from..to];
        let start = from + (raw.len() - raw.trim_start().len());
        let end = start + raw.trim().len();
        chunks.push(Chunk {
            index,
            text: text[start..end].to_owned(),
            span: start..end,
            ids: vocab.encode(&phonemes),
            phonemes,
            pause_after_ms: atoms.get(r.end).map_or(trailing_ms, |a| a.brk.pause_ms),
            oversized_atom: r.len() == 1
                && atoms[r.start].len > ChunkOptions::budget(first, max, index),
            words,
            rate: atoms[r.start].rate,
            breaks,
        });
        from = to;
    }
    Ok(chunks)
}
