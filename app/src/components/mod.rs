//! Pieces shared by several pages.

mod language_switch;

pub use language_switch::LanguageSwitch;
