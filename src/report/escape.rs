//! Every escaping the renderers need, in one place, so a rule about what a connector's text may
//! do to a page, a table or a terminal is written once.
//!
//! HTML escaping is askama's own (the templates escape every value they show; [`html`] is the
//! same escaper for the one piece of markup Rust builds, the highlighted JSON bodies), and
//! JUnit's XML escaping is quick-junit's. What remains is what those crates do not do: dropping
//! the control characters a page cannot show ([`printable_html`]) and the characters XML cannot
//! represent at all ([`xml_chars`]), Markdown table cells ([`markdown_text`], [`markdown_code`])
//! and terminal output ([`terminal`]).

use askama::filters::Escaper as _;

/// HTML-escapes text for element content and attribute values alike, with askama's escaper
/// (the one the templates use): `&`, `<`, `>`, `"` and `'`.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Writing into a String cannot fail.
    let _ = askama::filters::Html.write_escaped_str(&mut out, s);
    out
}

/// Drops the control characters other than tab and newline from a rendered page: HTML cannot
/// show them, and a connector's reply may carry any (an escape sequence, a NUL). The page's own
/// markup has none, and JSON bodies show theirs as `\u001b` text, so only connector text loses
/// them.
pub(crate) fn printable_html(mut page: String) -> String {
    page.retain(|c| c == '\n' || c == '\t' || !c.is_control());
    page
}

/// Characters XML 1.0 allows at all; everything else (most C0 controls, U+FFFE, U+FFFF) is
/// dropped, because no escape can represent it. quick-junit drops the C0 controls and ANSI
/// escape sequences itself, but would write U+FFFE and U+FFFF through.
pub(crate) fn xml_chars(s: &str) -> String {
    s.chars().filter(|&c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)).collect()
}

/// Escapes text for a Markdown table cell: markup characters get a backslash, line breaks
/// become spaces, and `&` cannot start an entity.
pub(crate) fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An inline code span that survives backticks and pipes inside a table cell.
pub(crate) fn markdown_code(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect();
    let clean = clean.replace('|', "\\|");
    if clean.contains('`') {
        format!("`` {clean} ``")
    } else {
        format!("`{clean}`")
    }
}

/// Shows control characters (escape sequences a connector sent) as text instead of letting
/// them act on the terminal. Newlines stay.
pub(crate) fn terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\n' || !c.is_control() {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(html("<b a=\"1\" b='2'>&</b>"), "&#60;b a=&#34;1&#34; b=&#39;2&#39;&#62;&#38;&#60;/b&#62;");
    }

    #[test]
    fn pages_lose_control_characters_but_keep_lines() {
        assert_eq!(printable_html("a\u{1b}[31m\u{0}b\n\tc\r".to_string()), "a[31mb\n\tc");
    }

    #[test]
    fn xml_keeps_only_what_xml_can_carry() {
        assert_eq!(xml_chars("a\u{0}b\u{1b}c\u{FFFE}\u{FFFF}d\n\té"), "abcd\n\té");
    }

    #[test]
    fn markdown_cells_cannot_break_tables() {
        assert_eq!(markdown_text("a|b\nc <x> & *y*"), "a\\|b c \\<x\\> &amp; \\*y\\*");
        assert_eq!(markdown_code("a`b|c"), "`` a`b\\|c ``");
        assert_eq!(markdown_code("x\u{1b}y"), "`xy`");
    }

    #[test]
    fn terminal_shows_escape_sequences_as_text() {
        assert_eq!(terminal("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\nc");
    }
}
