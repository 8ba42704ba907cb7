//! URLs and e-mail addresses, read the way people say them: "example dot com slash docs",
//! "john dot doe at example dot co dot U K". The scheme is not read; separators are spoken; lone
//! letters are spelled (in an address "a" is a letter, not an article).

use super::Out;
use super::tables::{SPELLED_TLDS, WORD_TLDS};
use super::words::general;

/// Reads URLs (`https://example.com/a-b`, `www.x.org`, `example.com`) and e-mail addresses.
pub(super) fn url_or_email(core: &str, off: usize, british: bool, out: &mut Out) -> bool {
    let lower = core.to_ascii_lowercase();
    if let Some((local, domain)) = core.split_once('@')
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        read_parts(local, off, british, out);
        out.word("at", off + local.len()..off + local.len() + 1);
        read_host(domain, off + local.len() + 1, british, out);
        return true;
    }
    let scheme_end = ["http://", "https://", "ftp://"]
        .iter()
        .find(|s| lower.starts_with(*s))
        .map(|s| s.len());
    let host_start = scheme_end.unwrap_or(0);
    let host_end = core[host_start..]
        .find(['/', '?', '#'])
        .map_or(core.len(), |k| host_start + k);
    let host = &core[host_start..host_end];
    let tld = host.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    let domain_like = host.contains('.')
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
        })
        && (WORD_TLDS.contains(&tld.as_str()) || SPELLED_TLDS.contains(&tld.as_str()))
        && core == lower;
    if !(scheme_end.is_some() || lower.starts_with("www.") || domain_like) {
        return false;
    }
    read_host(host, off + host_start, british, out);
    read_parts(
        core[host_end..].trim_end_matches('/'),
        off + host_end,
        british,
        out,
    );
    true
}

fn read_host(host: &str, off: usize, british: bool, out: &mut Out) {
    let mut pos = 0;
    for label in host.split_inclusive(['.', ':']) {
        let (name, sep) = match label.chars().last() {
            Some(c @ ('.' | ':')) => (&label[..label.len() - 1], Some(c)),
            _ => (label, None),
        };
        let span = off + pos..off + pos + name.len();
        let lower = name.to_ascii_lowercase();
        if lower == "www"
            || (SPELLED_TLDS.contains(&lower.as_str()) && sep.is_none())
            || single_letter(name)
        {
            out.spell(name, span);
        } else if !name.is_empty() {
            general(name, span.start, british, out);
        }
        if let Some(c) = sep {
            let at = off + pos + name.len();
            out.word(if c == '.' { "dot" } else { "colon" }, at..at + 1);
        }
        pos += label.len();
    }
}

/// Paths, queries and e-mail local parts: separators are spoken, the rest read normally.
fn read_parts(s: &str, off: usize, british: bool, out: &mut Out) {
    let mut start = 0;
    for (k, c) in s.char_indices() {
        let name: &[&str] = match c {
            '/' => &["slash"],
            '.' => &["dot"],
            '-' => &["dash"],
            '_' => &["underscore"],
            '?' => &["question", "mark"],
            '=' => &["equals"],
            '&' => &["and"],
            '#' => &["hash"],
            '%' => &["percent"],
            '~' => &["tilde"],
            '+' => &["plus"],
            ':' => &["colon"],
            _ => continue,
        };
        if start < k {
            part(&s[start..k], off + start, british, out);
        }
        out.words(name.iter().copied(), off + k..off + k + 1);
        start = k + c.len_utf8();
    }
    if start < s.len() {
        part(&s[start..], off + start, british, out);
    }
}

/// One piece of an address: a lone letter is a letter there ("a-b" is "A dash B"), not "a".
fn part(s: &str, off: usize, british: bool, out: &mut Out) {
    if single_letter(s) {
        out.spell(s, off..off + s.len());
    } else {
        general(s, off, british, out);
    }
}

fn single_letter(s: &str) -> bool {
    s.len() == 1 && s.bytes().all(|b| b.is_ascii_alphabetic())
}
