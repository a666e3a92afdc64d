//! Integration tests: the real server on port 0 with a fresh database, spoken to over HTTP.

mod helpers;
mod ops;
mod pages;
