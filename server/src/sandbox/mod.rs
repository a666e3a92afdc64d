//! Sandbox counterparts (`sandbox = true`): real programs on their own ports that play the
//! other side of each documented contract over HTTP, so every loop runs on one machine.

pub mod demo_partner;
pub mod membership_app;
pub mod payment_partner;
pub mod superapp_platform;
