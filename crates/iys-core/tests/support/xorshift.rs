//! The generator behind the generated corpora of `tests/phone_differential.rs`, `benches/core.rs`
//! and the unit tests' random inputs (`src/lib.rs` includes this file):
//! xorshift64 (Marsaglia, shifts 13/7/17), seeded by the caller, so every run draws the same inputs.
//! Not for anything secret. (`crates/xtask/src/gen.rs` keeps its own xorshift64*, whose stream the
//! bench CSV is pinned to.)

#![allow(dead_code)] // each user needs a different part

/// The state; any non-zero seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// `n` decimal digits.
    pub fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}
