//! The pure part of wirewatch, compiled from its own files under the name `wirewatch`.
//!
//! The fuzz targets need only `core`, `feed` and `story`, which by design (STYLE.md, "a pure
//! core") use nothing of the edges. Depending on the whole `wirewatch` package would also
//! build librdkafka, OpenSSL, reqwest, tokio and axum with fuzzing instrumentation: 8 minutes
//! instead of under 2 on the 2-core CI machine, most of the smoke run's budget. These are the
//! same source files, so the targets read exactly as code using the real crate would, and a
//! `crate::` path of one of these modules that reaches outside them fails this build loudly.
//! See docs/FUZZING.md ("Why a shim crate").
#![allow(dead_code)]

#[path = "../../src/core/mod.rs"]
pub mod core;
#[path = "../../src/feed.rs"]
pub mod feed;
#[path = "../../src/story.rs"]
pub mod story;
