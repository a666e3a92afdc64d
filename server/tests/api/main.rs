//! Integration tests: the real server on port 0 with a fresh database, spoken to over HTTP.

mod batch;
mod benefits;
mod contract;
mod helpers;
mod limits;
mod oidc;
mod ops;
mod pages;
mod payment_partner;
mod points;
mod rewards;
mod skyjoy;
mod tikivip;
mod webhooks;
