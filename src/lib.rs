//! shopfleet: one service hosting many isolated shops. See `DESIGN.md` for the map and
//! `README.md` for running it.

pub mod app;
pub mod auth;
pub mod cart;
pub mod catalog;
pub mod client_text;
pub mod commands;
pub mod config;
pub mod customers;
pub mod demo;
pub mod discounts;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod inventory;
pub mod media;
mod openapi_tags;
pub mod orders;
pub mod payments;
pub mod platform;
pub mod search;
pub mod shipping;
pub mod shop;
pub mod signature;
pub mod signup;
pub mod staff;
pub mod storage;
pub mod tenancy;
pub mod values;
pub mod webhooks;
