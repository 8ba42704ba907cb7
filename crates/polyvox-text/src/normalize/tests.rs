//! Table-driven tests of normalization: input → spoken form (spelled letters in capitals).

use super::*;

fn check(lang: Lang, cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (input, want) in cases {
        let got = spoken(input, lang);
        if got != *want {
            failures.push(format!("{input:?}\n   want {want:?}\n    got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn numbers() {
    check(
        Lang::EnUs,
        &[
            ("I have 3 cats.", "I have three cats."),
            (
                "1,234,567 people",
                "one million two hundred thirty four thousand five hundred sixty seven people",
            ),
            ("It was -5 outside", "It was minus five outside"),
            ("pi is 3.14", "pi is three point one four"),
            ("only .5 left", "only point five left"),
            (
                "the 1st and 22nd and 103rd",
                "the first and twenty second and one hundred third",
            ),
            ("agent 007", "agent zero zero seven"),
            ("1,2,3", "one, two, three"),
            ("version 1.2.3", "version one dot two dot three"),
            ("x.5 and .5.", "x point five and point five."),
            ("COVID-19", "COVID nineteen"),
            ("3000 people", "three thousand people"),
            (
                "50/50 chance, 24/7",
                "fifty fifty chance, twenty four seven",
            ),
            ("add 3/4 cup", "add three quarters cup"),
            ("pages 10-20", "pages ten to twenty"),
            ("call 555-1234", "call five five five, one two three four"),
            (
                "+1-800-555-0199",
                "plus one, eight zero zero, five five five, zero one nine nine",
            ),
            ("+5 points", "plus five points"),
            ("a 16:9 screen", "a sixteen to nine screen"),
            ("#1 fan", "number one fan"),
        ],
    );
}

#[test]
fn british_numbers_say_and() {
    check(
        Lang::EnGb,
        &[
            ("105 days", "one hundred and five days"),
            ("2005", "two thousand and five"),
            ("on 5/3/2024", "on the fifth of March, twenty twenty four"),
        ],
    );
}

#[test]
fn currency_and_percent() {
    check(
        Lang::EnUs,
        &[
            ("$5.50", "five dollars fifty cents"),
            ("$1", "one dollar"),
            ("$0.99", "ninety nine cents"),
            ("$1,000", "one thousand dollars"),
            ("$5.00", "five dollars"),
            ("£3", "three pounds"),
            ("£2.50", "two pounds fifty pence"),
            ("€2.01", "two euros one cent"),
            ("20€", "twenty euros"),
            ("¥500", "five hundred yen"),
            ("$1.5 million", "one point five million dollars"),
            ("$2bn deal", "two billion dollars deal"),
            ("-$5", "minus five dollars"),
            ("($5)", "(five dollars)"),
            ("50%", "fifty percent"),
            ("-3.5%", "minus three point five percent"),
            ("the $ sign", "the dollars sign"),
        ],
    );
}

#[test]
fn years_dates_and_times() {
    check(
        Lang::EnUs,
        &[
            ("in 1999", "in nineteen ninety nine"),
            ("in 2024", "in twenty twenty four"),
            ("in 1905", "in nineteen oh five"),
            ("the 1990s and '80s", "the nineteen nineties and eighties"),
            ("2024-03-05", "March fifth, twenty twenty four"),
            ("March 5, 2024", "March fifth, twenty twenty four"),
            ("March 5th", "March fifth"),
            ("5 March 2024", "the fifth of March twenty twenty four"),
            ("3/5/2024", "March fifth, twenty twenty four"),
            ("at 3:30 pm", "at three thirty PM"),
            ("at 3:30pm", "at three thirty PM"),
            ("at 3 p.m.", "at three PM."),
            ("at 3 p.m. today", "at three PM today"),
            ("at 3 p.m. Then", "at three PM. Then"),
            ("at 11am", "at eleven AM"),
            ("at 3:05", "at three oh five"),
            ("at 10:00", "at ten o'clock"),
            ("at 15:45", "at fifteen forty five"),
            ("at 18:00", "at eighteen hundred"),
        ],
    );
}

#[test]
fn abbreviations() {
    check(
        Lang::EnUs,
        &[
            ("Dr. Smith", "doctor Smith"),
            ("Mr. and Mrs. Jones", "mister and missus Jones"),
            ("Ms. Lee", "/mˈɪz/ Lee"),
            ("St. Louis", "Saint Louis"),
            ("on Main St. today", "on Main street today"),
            ("on Main St. Then", "on Main street. Then"),
            ("Visit St. Paul", "Visit Saint Paul"),
            ("at 5th St. now", "at fifth street now"),
            ("apples, pears, etc.", "apples, pears, etc."),
            ("etc. and more", "etc and more"),
            ("e.g. this", "for example this"),
            ("i.e., that", "that is, that"),
            ("cats vs. dogs", "cats versus dogs"),
            ("the U.S. is big", "the US is big"),
            ("in the U.S. The end", "in the US. The end"),
            ("J. K. Rowling", "J K Rowling"),
            ("No. 5", "number five"),
            ("I said no. Then", "I said no. Then"),
            ("Jan is here", "Jan is here"),
            ("Jan. 5", "January fifth"),
            ("Acme Inc. is", "Acme incorporated is"),
        ],
    );
}

#[test]
fn units() {
    check(
        Lang::EnUs,
        &[
            ("5 km", "five kilometers"),
            ("1 km", "one kilometer"),
            ("5km away", "five kilometers away"),
            ("2.5kg", "two point five kilograms"),
            ("100 mph", "one hundred miles per hour"),
            ("16GB", "sixteen gigabytes"),
            ("25°C", "twenty five degrees Celsius"),
            ("10x faster", "ten times faster"),
        ],
    );
    check(Lang::EnGb, &[("5 km", "five kilometres")]);
}

#[test]
fn urls_emails_and_symbols() {
    check(
        Lang::EnUs,
        &[
            ("see example.com", "see example dot com"),
            (
                "https://www.example.com/a-b",
                "WWW dot example dot com slash A dash B",
            ),
            (
                "http://github.com/rust-lang/rust/",
                "github dot com slash rust dash lang slash rust",
            ),
            (
                "example.com?q=x",
                "example dot com question mark Q equals X",
            ),
            ("docs.rs is", "docs dot rs is"),
            (
                "john.doe@example.co.uk",
                "john dot doe at example dot co dot UK",
            ),
            ("a@b.io.", "A at B dot IO."),
            ("R&D", "R and D"),
            ("salt & pepper", "salt and pepper"),
            ("1 + 1 = 2", "one plus one equals two"),
            ("hi @bob", "hi at bob"),
            ("well-known", "well known"),
            ("node.js", "node dot js"),
            ("end.Next", "end. Next"),
            ("α and β", "alpha and beta"),
        ],
    );
}

#[test]
fn punctuation_is_kept_and_tidied() {
    check(
        Lang::EnUs,
        &[
            ("Wait... what?!", "Wait… what?!"),
            ("Wait . . . what", "Wait… what"),
            ("Really!!!", "Really!"),
            ("yes -- no", "yes — no"),
            ("yes - no", "yes — no"),
            ("a—b", "a—b"),
            ("\"Hi,\" she said.", "\"Hi,\" she said."),
            ("“Hi” [note]", "“Hi” (note)"),
            ("¿Qué?", "Qué?"),
            ("*bold* _it_", "bold it"),
            ("dogs' bones", "dogs bones"),
            ("don't", "don't"),
        ],
    );
}

#[test]
fn unreadable_input_yields_no_words() {
    for input in ["😀😀", "你好", "...", "—", "*", "привет"] {
        let words = normalize(input, Lang::EnUs)
            .into_iter()
            .filter(|t| !t.is_punct())
            .count();
        assert_eq!(words, 0, "{input:?}: {:?}", normalize(input, Lang::EnUs));
    }
}

#[test]
fn spans_are_ordered_and_inside_the_input() {
    let text = "Dr. Smith paid $5.50 on 2024-03-05, see example.com/x — ok?! 12345678901234567890 ";
    let tokens = normalize(text, Lang::EnUs);
    let mut last = 0;
    for t in &tokens {
        assert!(
            t.span.start >= last
                || t.span.start
                    == tokens
                        .iter()
                        .find(|u| u.span == t.span)
                        .map_or(0, |u| u.span.start)
        );
        assert!(
            t.span.start <= t.span.end && t.span.end <= text.len(),
            "{t:?}"
        );
        assert!(text.is_char_boundary(t.span.start) && text.is_char_boundary(t.span.end));
        last = t.span.start;
    }
    let money: Vec<_> = tokens
        .iter()
        .filter(|t| &text[t.span.clone()] == "$5.50")
        .collect();
    assert_eq!(
        money.len(),
        4,
        "five dollars fifty cents share the span of $5.50"
    );
    let long: Vec<_> = tokens
        .iter()
        .filter(|t| t.span.len() <= 4 && text[t.span.clone()].starts_with("1234"))
        .collect();
    assert!(
        !long.is_empty(),
        "a long digit run is cut into groups with their own spans"
    );
}

#[test]
fn gaps_record_spaces_lines_and_paragraphs() {
    let tokens = normalize("one two\nthree\n\nfour", Lang::EnUs);
    let gaps: Vec<Gap> = tokens.iter().map(|t| t.gap).collect();
    assert_eq!(gaps, [Gap::None, Gap::Space, Gap::Line, Gap::Paragraph]);
}

#[test]
fn long_letter_runs_are_cut_into_pieces() {
    let text = "x".repeat(1000);
    let tokens = normalize(&text, Lang::EnUs);
    assert_eq!(tokens.len(), 25);
    assert!(tokens.windows(2).all(|w| w[0].span.end == w[1].span.start));
    assert_eq!(tokens.last().map(|t| t.span.end), Some(1000));
}
