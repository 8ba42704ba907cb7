//! Character data: entity decoding with a map back to the source, whitespace folding, and
//! quick-xml's errors in our words.

use super::short;

/// Decodes character data: the five XML entities and numeric character references. Returns
/// the text and, per byte of it, the source byte it comes from (plus the end). Errors carry the
/// source offset of the bad reference.
pub(super) fn decode(raw: &str, base: usize) -> Result<(String, Vec<usize>), (usize, String)> {
    let mut text = String::with_capacity(raw.len());
    let mut src = Vec::with_capacity(raw.len() + 1);
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        let (c, used) = if let Some(r) = rest.strip_prefix('&') {
            let semi = r.find(';').filter(|&n| n <= 10).ok_or((
                base + i,
                "'&' must start an entity such as &amp;".to_string(),
            ))?;
            let name = &r[..semi];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .map(|h| u32::from_str_radix(h, 16))
                    .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            let c = c.ok_or_else(|| {
                (
                    base + i,
                    format!("unknown entity &{};: only &amp; &lt; &gt; &quot; &apos; and numeric references", short(name)),
                )
            })?;
            (c, semi + 2)
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            (c, c.len_utf8())
        };
        match crate::text::rule(c) {
            crate::text::CharRule::Keep | crate::text::CharRule::LineBreak => {
                let c = if c.is_whitespace() { ' ' } else { c };
                for _ in 0..c.len_utf8() {
                    src.push(base + i);
                }
                text.push(c);
            }
            crate::text::CharRule::Remove => {}
            crate::text::CharRule::Reject(class) => {
                return Err((
                    base + i,
                    format!("{class} (U+{:04X}) is not allowed", c as u32),
                ));
            }
        }
        i += used;
    }
    src.push(base + raw.len());
    Ok((text, src))
}

/// Folds runs of spaces to one, keeping `src` aligned.
pub(super) fn fold_spaces(text: &mut String, src: &mut Vec<usize>) {
    if !text.contains("  ") {
        return;
    }
    let mut t = String::with_capacity(text.len());
    let mut s = Vec::with_capacity(src.len());
    let mut prev_space = false;
    for (i, c) in text.char_indices() {
        if c == ' ' && prev_space {
            continue;
        }
        prev_space = c == ' ';
        s.extend_from_slice(&src[i..i + c.len_utf8()]);
        t.push(c);
    }
    s.push(src[text.len()]);
    *text = t;
    *src = s;
}

pub(super) fn xml_error(e: &quick_xml::Error) -> String {
    use quick_xml::errors::{IllFormedError, SyntaxError};
    match e {
        quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!("</{found}> closes <{expected}>")
        }
        quick_xml::Error::IllFormed(IllFormedError::UnmatchedEndTag(t)) => {
            format!("</{t}> closes nothing")
        }
        quick_xml::Error::IllFormed(IllFormedError::MissingEndTag(t)) => {
            format!("<{t}> is never closed")
        }
        quick_xml::Error::Syntax(SyntaxError::UnclosedTag) => {
            "a tag is never finished ('>' missing)".into()
        }
        other => other.to_string(),
    }
}
