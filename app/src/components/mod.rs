//! Pieces shared by several pages.

mod language_switch;

use leptos::prelude::*;

pub use language_switch::LanguageSwitch;

use crate::{errors::AppError, prefs::use_language};

/// A server function's error, in the page's language (`data-error` names it for tests).
#[component]
pub fn ErrorNote(e: AppError) -> impl IntoView {
    let lang = use_language();
    let name = e.name();
    let e = StoredValue::new(e);
    view! { <p class="error" role="alert" data-testid="error" data-error=name>{move || lang.get().texts().error(&e.read_value())}</p> }
}

/// Percent-encodes a URL query component (unreserved characters kept), in the browser build too.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `1234567` → `1.234.567` (Vietnamese digit grouping; negative numbers keep their sign).
pub fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// `99000` → `99.000 ₫`
pub fn vnd(amount: i64) -> String {
    format!("{} ₫", group_digits(amount))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_the_vietnamese_way() {
        assert_eq!(vnd(1_000_000), "1.000.000 ₫");
        assert_eq!(vnd(99_000), "99.000 ₫");
        assert_eq!(vnd(500), "500 ₫");
    }
}
