//! Shared test support: the fixture corpus and helpers that start servers on loopback.

pub mod fixture;
