//! Word tables of the normalizer: abbreviations, units, top-level domains, symbols, Greek letters.

/// Abbreviations that take a dot: (lower-case stem, expansion, can end a sentence).
pub(super) const ABBREVIATIONS: &[(&str, &str, bool)] = &[
    ("dr", "doctor", false),
    ("mr", "mister", false),
    ("mrs", "missus", false),
    ("ms", "", false),
    ("prof", "professor", false),
    ("gen", "general", false),
    ("gov", "governor", false),
    ("sen", "senator", false),
    ("rep", "representative", false),
    ("capt", "captain", false),
    ("lt", "lieutenant", false),
    ("sgt", "sergeant", false),
    ("col", "colonel", false),
    ("st", "", true),
    ("jr", "junior", true),
    ("sr", "senior", true),
    ("inc", "incorporated", true),
    ("ltd", "limited", true),
    ("co", "company", true),
    ("corp", "corporation", true),
    ("mt", "mount", false),
    ("ave", "avenue", true),
    ("blvd", "boulevard", true),
    ("rd", "road", true),
    ("dept", "department", true),
    ("fig", "figure", false),
    ("no", "number", false),
    ("vs", "versus", false),
    ("etc", "etc", true),
    ("e.g", "for example", false),
    ("i.e", "that is", false),
    ("approx", "approximately", true),
    ("est", "established", false),
    ("cf", "compare", false),
    ("jan", "January", true),
    ("feb", "February", true),
    ("mar", "March", true),
    ("apr", "April", true),
    ("jun", "June", true),
    ("jul", "July", true),
    ("aug", "August", true),
    ("sep", "September", true),
    ("sept", "September", true),
    ("oct", "October", true),
    ("nov", "November", true),
    ("dec", "December", true),
];

/// Units read after a number: (symbol, one, many). Case matters (`MB` is not `mb`).
pub(super) const UNITS: &[(&str, &str, &str)] = &[
    ("km", "kilometer", "kilometers"),
    ("cm", "centimeter", "centimeters"),
    ("mm", "millimeter", "millimeters"),
    ("kg", "kilogram", "kilograms"),
    ("mg", "milligram", "milligrams"),
    ("g", "gram", "grams"),
    ("lb", "pound", "pounds"),
    ("lbs", "pound", "pounds"),
    ("oz", "ounce", "ounces"),
    ("ft", "foot", "feet"),
    ("mi", "mile", "miles"),
    ("mph", "mile per hour", "miles per hour"),
    ("km/h", "kilometer per hour", "kilometers per hour"),
    ("kph", "kilometer per hour", "kilometers per hour"),
    ("ml", "milliliter", "milliliters"),
    ("KB", "kilobyte", "kilobytes"),
    ("MB", "megabyte", "megabytes"),
    ("GB", "gigabyte", "gigabytes"),
    ("TB", "terabyte", "terabytes"),
    ("Hz", "hertz", "hertz"),
    ("kHz", "kilohertz", "kilohertz"),
    ("MHz", "megahertz", "megahertz"),
    ("GHz", "gigahertz", "gigahertz"),
    ("kW", "kilowatt", "kilowatts"),
    ("ms", "millisecond", "milliseconds"),
    ("sec", "second", "seconds"),
    ("min", "minute", "minutes"),
    ("hr", "hour", "hours"),
    ("hrs", "hour", "hours"),
    ("°C", "degree Celsius", "degrees Celsius"),
    ("°F", "degree Fahrenheit", "degrees Fahrenheit"),
    ("°", "degree", "degrees"),
    ("x", "times", "times"),
];

pub(super) fn unit(s: &str) -> Option<(&'static str, &'static str)> {
    UNITS
        .iter()
        .find(|(k, ..)| *k == s)
        .map(|&(_, one, many)| (one, many))
}

/// Top-level domains read as words; other known ones are spelled.
pub(super) const WORD_TLDS: &[&str] = &[
    "com", "org", "net", "edu", "gov", "info", "biz", "dev", "app", "co",
];

pub(super) const SPELLED_TLDS: &[&str] = &[
    "io", "ai", "uk", "us", "de", "fr", "ca", "au", "jp", "cn", "in", "me", "tv", "ly", "gg", "eu",
    "nl", "ch", "es", "it", "xyz",
];

/// Words for a symbol character (`&` → and); `next` is the character after it.
pub(super) fn symbol(c: char, next: Option<char>) -> Option<&'static [&'static str]> {
    Some(match c {
        '&' => &["and"],
        '+' => &["plus"],
        '@' => &["at"],
        '%' => &["percent"],
        '=' => &["equals"],
        '#' if next.is_some_and(|n| n.is_ascii_digit()) => &["number"],
        '#' => &["hash"],
        '°' => &["degrees"],
        '×' => &["times"],
        '÷' => &["divided", "by"],
        '<' => &["less", "than"],
        '>' => &["greater", "than"],
        '$' => &["dollars"],
        '£' => &["pounds"],
        '€' => &["euros"],
        '¥' => &["yen"],
        '₹' => &["rupees"],
        _ => return None,
    })
}

pub(super) fn greek(c: char) -> Option<&'static str> {
    Some(match c.to_lowercase().next()? {
        'α' => "alpha",
        'β' => "beta",
        'γ' => "gamma",
        'δ' => "delta",
        'ε' => "epsilon",
        'θ' => "theta",
        'λ' => "lambda",
        'μ' | 'µ' => "mu",
        'π' => "pi",
        'σ' | 'ς' => "sigma",
        'τ' => "tau",
        'φ' => "phi",
        'ω' => "omega",
        _ => return None,
    })
}
