//! Text that came from a server (or a file another program can write) on its way to a
//! terminal: pi draws entries in its footer and `usage-store` prints them, so an ESC or a
//! bidi override in a window id, a plan name or an error message would be interpreted by
//! the terminal, not shown. `clean_text` keeps the printable part, bounded in length.

/// Longest window id / plan name kept from a server (real ones are under 40 characters).
pub const MAX_NAME_CHARS: usize = 64;
/// Longest error message built from anything a server or file supplied.
pub const MAX_MESSAGE_CHARS: usize = 300;

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';
const CSI: char = '\u{9b}';
const OSC: char = '\u{9d}';
const ST: char = '\u{9c}';

/// Characters that change how the rest of a line is displayed without being visible
/// themselves: bidi embeddings, overrides and isolates (the "Trojan Source" set), marks,
/// zero-width joiners and the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

/// Skips the rest of an escape sequence whose introducer was just read, so no parameter
/// text (`[31m`, `]0;title`) is left behind as noise.
fn skip_sequence(kind: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match kind {
        // CSI: parameter and intermediate bytes, then one final byte in '@'..='~'.
        '[' | CSI => {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
                if !(' '..='?').contains(&c) {
                    break;
                }
            }
        }
        // OSC/DCS/PM/APC strings run to BEL or ST (ESC \ or U+009C).
        ']' | 'P' | '^' | '_' | OSC => {
            while let Some(c) = chars.next() {
                if c == BEL || c == ST {
                    break;
                }
                if c == ESC {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        _ => {}
    }
}

/// `s` without control characters (C0, DEL, C1), escape sequences and invisible format
/// characters, whitespace runs folded to one space, trimmed, and at most `max_chars`
/// characters long (a cut is marked with `…`, counted in the bound).
pub fn clean_text(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)));
    let mut count = 0usize;
    let mut pending_space = false;
    let mut truncated = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let keep = match c {
            ESC => {
                // Two-character escapes (ESC c, ESC 7, …) lose their second character too.
                if let Some(k @ ('[' | ']' | 'P' | '^' | '_')) = chars.next() {
                    skip_sequence(k, &mut chars);
                }
                None
            }
            CSI | OSC => {
                skip_sequence(c, &mut chars);
                None
            }
            c if c.is_whitespace() => {
                pending_space = count > 0;
                None
            }
            c if c.is_control() || is_invisible_format(c) => None,
            c => Some(c),
        };
        let Some(c) = keep else { continue };
        let needed = usize::from(pending_space) + 1;
        if count + needed > max_chars {
            truncated = true;
            break;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    if truncated && max_chars > 0 {
        // Make room for the marker within the bound.
        while count >= max_chars {
            out.pop();
            count -= 1;
        }
        let trimmed = out.trim_end().len();
        count -= out.len() - trimmed;
        out.truncate(trimmed);
        if count < max_chars {
            out.push('…');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_escape_sequences_are_removed() {
        assert_eq!(clean_text("5h\u{1b}[31m red\u{1b}[0m", 64), "5h red");
        assert_eq!(clean_text("bell\u{7}\u{0}\u{7f}", 64), "bell");
        assert_eq!(
            clean_text("\u{1b}]0;pwned title\u{7}plan", 64),
            "plan",
            "OSC title change swallowed whole"
        );
        assert_eq!(clean_text("\u{1b}]8;;http://x\u{1b}\\link", 64), "link");
        assert_eq!(clean_text("c1\u{9b}2Jcsi\u{85}", 64), "c1csi");
        assert_eq!(clean_text("reset\u{1b}c", 64), "reset");
        assert_eq!(clean_text("trailing escape\u{1b}", 64), "trailing escape");
    }

    #[test]
    fn bidi_overrides_and_invisible_characters_are_removed() {
        let trojan = "pro\u{202e}eerf\u{202c}\u{2066}x\u{2069}\u{200b}\u{feff}";
        assert_eq!(clean_text(trojan, 64), "proeerfx");
        // Ordinary non-ASCII text stays.
        assert_eq!(clean_text("Über 5h — プロ", 64), "Über 5h — プロ");
    }

    #[test]
    fn whitespace_is_folded_and_trimmed() {
        assert_eq!(clean_text("  a\n\tb \r\n c  ", 64), "a b c");
        assert_eq!(clean_text("\n\n", 64), "");
    }

    #[test]
    fn length_is_bounded_in_characters_with_a_marker() {
        let long = "é".repeat(10_000);
        let out = clean_text(&long, 300);
        assert_eq!(out.chars().count(), 300);
        assert!(out.ends_with('…'));
        assert_eq!(
            clean_text("abcdef", 6),
            "abcdef",
            "exactly the bound is kept"
        );
        assert_eq!(clean_text("abcdefg", 6), "abcde…");
        assert_eq!(
            clean_text("abcd  efgh", 6),
            "abcd…",
            "no space before the marker"
        );
        assert_eq!(clean_text("abc", 0), "");
    }
}
