//! Joygate's business: what the platform decides, stores and signs.
//!
//! No HTTP and no Leptos here; the `server` and `app` crates call into these modules.
//! One module per capability; each keeps its types, rules and queries side by side.

pub mod benefits;
pub mod clock;
pub mod csv_file;
pub mod events;
pub mod identity;
pub mod ledger;
pub mod outbox;
pub mod rewards;
pub mod signing;
pub mod store;
pub mod tikivip;

pub use clock::now_ms;
pub use store::{Db, StoreError};
