//! Pieces shared by several pages.

mod language_switch;

pub use language_switch::LanguageSwitch;

/// Percent-encodes a URL query component (unreserved characters kept), in the browser build too.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
