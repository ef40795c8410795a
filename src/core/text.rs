//! Text handling shared by dedup and tagging: markup removal and the normalisation used for
//! matching (case, diacritics, punctuation, possessive folding) with a map back to the
//! original byte offsets, so evidence can point into the text the user sees.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Removes markup from an HTML fragment and decodes entities. Text inside `script` and `style`
/// is dropped; block-level tags become line breaks. Plain text goes through unchanged.
pub fn html_to_text(input: &str) -> String {
    if !input.contains('<') && !input.contains('&') {
        return input.trim().to_string();
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if rest.starts_with('<') {
            rest = skip_tag(rest, &mut out);
        } else {
            let (decoded, used) = decode_entity(rest);
            match decoded {
                Some(c) => out.push(c),
                None => out.push('&'),
            }
            rest = &rest[used..];
        }
    }
    out.push_str(rest);
    collapse_blank_lines(&out)
}

/// Skips one tag (or comment / CDATA) at the start of `s`, writing a separator for block tags.
fn skip_tag<'a>(s: &'a str, out: &mut String) -> &'a str {
    if let Some(body) = s.strip_prefix("<!--") {
        return body.find("-->").map_or("", |end| &body[end + 3..]);
    }
    if let Some(body) = s.strip_prefix("<![CDATA[") {
        return match body.find("]]>") {
            Some(end) => {
                out.push_str(&body[..end]);
                &body[end + 3..]
            }
            None => {
                out.push_str(body);
                ""
            }
        };
    }
    let Some(end) = s.find('>') else {
        // A lone '<' that never closes: keep it as text.
        out.push('<');
        return &s[1..];
    };
    let tag = &s[1..end];
    let name: String = tag
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    if name.is_empty() && !tag.starts_with('/') && !tag.starts_with('!') && !tag.starts_with('?') {
        // "a < b" style text, not a tag.
        out.push('<');
        return &s[1..];
    }
    let after = &s[end + 1..];
    if (name == "script" || name == "style") && !tag.starts_with('/') && !tag.ends_with('/') {
        let close = format!("</{name}");
        let lower = after.to_ascii_lowercase();
        return match lower.find(&close) {
            Some(i) => {
                let rest = &after[i..];
                rest.find('>').map_or("", |j| &rest[j + 1..])
            }
            None => "",
        };
    }
    const BLOCK: &[&str] = &[
        "p",
        "br",
        "div",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "td",
        "th",
        "table",
        "blockquote",
        "section",
        "article",
        "figure",
        "figcaption",
        "hr",
        "header",
        "footer",
        "pre",
    ];
    if BLOCK.contains(&name.as_str()) {
        out.push('\n');
    } else if !out.ends_with(' ') && !out.is_empty() && name != "a" && name != "span" {
        // Inline tags like <img> separate words; <a>/<span>/<b> usually sit inside a sentence.
        if !matches!(
            name.as_str(),
            "b" | "i" | "em" | "strong" | "u" | "small" | "sup" | "sub"
        ) {
            out.push(' ');
        }
    }
    after
}

/// Decodes one entity at the start of `s` (which starts with '&'). Returns the character and
/// the number of bytes consumed (1 when it is not an entity).
fn decode_entity(s: &str) -> (Option<char>, usize) {
    let end = match s[1..].find(|c: char| c == ';' || c.is_whitespace() || c == '&') {
        Some(i) if s.as_bytes()[i + 1] == b';' && i <= 10 => i + 1,
        _ => return (None, 1),
    };
    let name = &s[1..end];
    let c = if let Some(num) = name.strip_prefix('#') {
        let code = if let Some(hex) = num.strip_prefix(['x', 'X']) {
            u32::from_str_radix(hex, 16).ok()
        } else {
            num.parse::<u32>().ok()
        };
        code.and_then(char::from_u32)
    } else {
        named_entity(name)
    };
    match c {
        Some(c) => (Some(c), end + 1),
        None => (None, 1),
    }
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "rsquo" => '\u{2019}',
        "lsquo" => '\u{2018}',
        "rdquo" => '\u{201D}',
        "ldquo" => '\u{201C}',
        "mdash" => '\u{2014}',
        "ndash" => '\u{2013}',
        "hellip" => '\u{2026}',
        "copy" => '\u{A9}',
        "reg" => '\u{AE}',
        "middot" => '\u{B7}',
        "eacute" => 'é',
        "egrave" => 'è',
        "agrave" => 'à',
        "ccedil" => 'ç',
        "ocirc" => 'ô',
        "ecirc" => 'ê',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "laquo" => '«',
        "raquo" => '»',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "deg" => '°',
        "times" => '×',
        "bull" => '•',
        _ => return None,
    })
}

fn collapse_blank_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line);
    }
    out
}

/// Whether `c` belongs to a script written without spaces between words (Han, kana) or whose
/// words take attached particles (Hangul): such text is matched without word boundaries.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF      // Hangul Jamo
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3130..=0x318F    // Hangul compatibility Jamo
        | 0x31F0..=0x31FF    // Katakana extensions
        | 0x3400..=0x4DBF    // CJK ext A
        | 0x4E00..=0x9FFF    // CJK unified
        | 0xAC00..=0xD7A3    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility
        | 0xFF66..=0xFF9F    // half-width Katakana
        | 0x20000..=0x2FA1F) // CJK ext B+
}

/// Han and kana count as half a word each when measuring distances (`near`): Chinese and
/// Japanese have no spaces, and a word there is one to a few characters.
fn is_unspaced(c: char) -> bool {
    is_cjk(c) && !matches!(c as u32, 0xAC00..=0xD7A3 | 0x1100..=0x11FF | 0x3130..=0x318F)
}

/// Text normalised for matching, with the way back to the original.
#[derive(Debug, Default, Clone)]
pub struct Normalized {
    /// Lower-case, diacritics removed, separators collapsed to single spaces, trimmed.
    pub text: String,
    /// For each byte of `text` (and one past the end), the byte offset in the original.
    map: Vec<u32>,
    /// Word position (twice the word index; unspaced CJK characters count one each) of each
    /// byte of `text`.
    pos2: Vec<u32>,
}

impl Normalized {
    /// Original byte range of the normalised range `start..end`; `original` is the text this
    /// was normalised from.
    pub fn original_range(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let s = self.map[start] as usize;
        if end <= start {
            return (s, s);
        }
        // End: just after the source character of the last normalised byte.
        let last = self.map[end - 1] as usize;
        let len = original
            .get(last..)
            .and_then(|rest| rest.chars().next())
            .map_or(1, char::len_utf8);
        (s, (last + len).min(original.len()))
    }

    /// Position of a byte in words ×2 (see `near`).
    pub fn pos2(&self, byte: usize) -> u32 {
        self.pos2.get(byte).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// Normalises `input` for matching (see `docs/TAXONOMY.md`, "How text is matched").
pub fn normalize(input: &str) -> Normalized {
    normalize_with(input, true)
}

/// The normalised text alone, without the maps back to the original (dedup needs no
/// evidence offsets).
pub fn normalize_text(input: &str) -> String {
    normalize_with(input, false).text
}

fn normalize_with(input: &str, track: bool) -> Normalized {
    let cap = if track { input.len() + 1 } else { 0 };
    let mut b = Builder {
        text: Vec::with_capacity(input.len()),
        map: Vec::with_capacity(cap),
        pos2: Vec::with_capacity(cap),
        words2: 0,
        at_sep: true,
        track,
    };
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        // Runs of lower-case ASCII letters and digits (most of a text) go in bulk.
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() {
            let run = bytes[i..]
                .iter()
                .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit()))
                .unwrap_or(bytes.len() - i);
            b.push_run(&bytes[i..i + run], i);
            i += run;
            continue;
        }
        // Other ASCII: byte by byte.
        if byte < 0x80 {
            if byte.is_ascii_alphanumeric() {
                b.push(byte.to_ascii_lowercase(), i);
            } else if byte == b'\'' && possessive_follows(bytes, i + 1) {
                i += 1; // the 's'
            } else {
                b.sep(i);
            }
            i += 1;
            continue;
        }
        let c = input[i..].chars().next().unwrap_or('\u{FFFD}');
        let len = c.len_utf8();
        if c == '\u{2019}' && possessive_follows(bytes, i + len) {
            i += len + 1;
            continue;
        }
        if is_cjk(c) {
            // Half-width katakana become full-width; other CJK stays as it is.
            let folded = if (0xFF66..=0xFF9F).contains(&(c as u32)) {
                c.nfkc().next().unwrap_or(c)
            } else {
                c
            };
            b.push_char(folded, i);
            if is_unspaced(c) {
                b.words2 += 1;
            }
            i += len;
            continue;
        }
        let mut wrote = false;
        for d in c.nfkd() {
            if is_combining_mark(d) {
                continue;
            }
            for l in d.to_lowercase() {
                if l.is_alphanumeric() {
                    b.push_char(l, i);
                    wrote = true;
                } else {
                    b.sep(i);
                }
            }
        }
        if !wrote && !c.is_alphanumeric() {
            b.sep(i);
        }
        i += len;
    }
    b.finish(input.len())
}

struct Builder {
    text: Vec<u8>,
    map: Vec<u32>,
    pos2: Vec<u32>,
    words2: u32,
    /// True when the last thing written is a separator (or nothing yet).
    at_sep: bool,
    /// Keep the maps back to the original.
    track: bool,
}

impl Builder {
    #[inline]
    fn push(&mut self, byte: u8, orig: usize) {
        self.text.push(byte);
        if self.track {
            self.map.push(orig as u32);
            self.pos2.push(self.words2);
        }
        self.at_sep = false;
    }

    /// Bytes that stay as they are, starting at `orig` in the original.
    #[inline]
    fn push_run(&mut self, run: &[u8], orig: usize) {
        self.text.extend_from_slice(run);
        if self.track {
            self.map.extend(orig as u32..(orig + run.len()) as u32);
            let w = self.words2;
            self.pos2.extend(std::iter::repeat_n(w, run.len()));
        }
        self.at_sep = false;
    }

    #[inline]
    fn push_char(&mut self, c: char, orig: usize) {
        let mut buf = [0u8; 4];
        for &byte in c.encode_utf8(&mut buf).as_bytes() {
            self.push(byte, orig);
        }
    }

    #[inline]
    fn sep(&mut self, orig: usize) {
        if self.at_sep {
            return;
        }
        self.words2 += 2;
        self.text.push(b' ');
        if self.track {
            self.map.push(orig as u32);
            self.pos2.push(self.words2);
        }
        self.at_sep = true;
    }

    fn finish(mut self, input_len: usize) -> Normalized {
        if self.text.last() == Some(&b' ') {
            self.text.pop();
            self.map.pop();
            self.pos2.pop();
        }
        if self.track {
            self.map.push(input_len as u32);
            self.pos2.push(self.words2);
        }
        // Only whole UTF-8 sequences were pushed, so this never fails; stay total anyway.
        let text = String::from_utf8(self.text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Normalized {
            text,
            map: self.map,
            pos2: self.pos2,
        }
    }
}

/// After an apostrophe at `at`: is it a possessive "s" (followed by a non-alphanumeric)?
fn possessive_follows(bytes: &[u8], at: usize) -> bool {
    matches!(bytes.get(at), Some(b's') | Some(b'S'))
        && bytes
            .get(at + 1)
            .is_none_or(|b| !b.is_ascii_alphanumeric() && *b < 0x80)
}

/// Normalises a pattern (alias or term) the same way as text, without the offset maps.
pub fn normalize_pattern(p: &str) -> String {
    normalize(p).text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_markup_and_decodes_entities() {
        let html = "<p>Kim&#39;s <b>speech</b> &amp; the <a href=\"x\">DMZ</a></p><script>var x=1;</script><p>Next&nbsp;para &rsquo;ok&rsquo;</p>";
        assert_eq!(
            html_to_text(html),
            "Kim's speech & the DMZ\nNext para \u{2019}ok\u{2019}"
        );
    }

    #[test]
    fn keeps_lone_angle_brackets_and_ampersands() {
        assert_eq!(html_to_text("a < b & c"), "a < b & c");
        assert_eq!(html_to_text("AT&T 3<4"), "AT&T 3<4");
    }

    #[test]
    fn folds_case_punctuation_possessives_and_diacritics() {
        assert_eq!(normalize("Kim Jong-un's  visit").text, "kim jong un visit");
        assert_eq!(normalize("KIM JONG UN’s").text, "kim jong un");
        assert_eq!(normalize("Pyŏngyang, Séoul!").text, "pyongyang seoul");
        assert_eq!(normalize("Ｆｕｌｌ－width").text, "full width");
        assert_eq!(normalize("U.S.-Japan").text, "u s japan");
    }

    #[test]
    fn keeps_cjk_and_maps_offsets_back() {
        let src = "북한이 «미사일» 발사";
        let n = normalize(src);
        assert_eq!(n.text, "북한이 미사일 발사");
        let at = n.text.find("미사일").unwrap();
        let (s, e) = n.original_range(src, at, at + "미사일".len());
        assert_eq!(&src[s..e], "미사일");
    }

    #[test]
    fn offsets_survive_folding() {
        let src = "The Kim Jong-Un's regime";
        let n = normalize(src);
        let at = n.text.find("kim jong un").unwrap();
        let (s, e) = n.original_range(src, at, at + "kim jong un".len());
        assert_eq!(&src[s..e], "Kim Jong-Un");
    }

    #[test]
    fn word_positions_count_words_and_cjk_halves() {
        let n = normalize("one two three");
        assert_eq!(n.pos2(0), 0);
        assert_eq!(n.pos2(n.text.find("three").unwrap()), 4);
        let j = normalize("北朝鮮が発射");
        assert_eq!(j.pos2(j.text.find("発射").unwrap()), 4);
    }
}
