//! The raw boundary (wasm only): the input buffer the JS glue writes into, and handing the answer
//! back.
//!
//! A call goes: JS calls [`input`] with the most bytes its string can take (3 per UTF-16 unit),
//! which empties the arena (the previous answer has been read by then) and returns the address of
//! a fresh buffer; JS writes the string there with `TextEncoder.encodeInto` and calls an export with
//! the number of bytes written; the export reads that many bytes of the buffer (never more than
//! [`input`] gave), works, and returns the address of its answer ([`crate::encode::Out`]), which
//! stays in place until the next [`input`].

#![allow(unsafe_code)]

use core::cell::Cell;

use crate::encode::{Out, HEADER};
use crate::ALLOC;

/// The current input buffer: address and capacity.
struct Input(Cell<(usize, usize)>);

// SAFETY: wasm32-unknown-unknown without the `atomics` feature runs one thread.
unsafe impl Sync for Input {}

static INPUT: Input = Input(Cell::new((0, 0)));

/// Empties the arena and returns a buffer of `capacity` bytes for the next call's input (0 when
/// memory cannot grow that far).
pub fn input(capacity: usize) -> usize {
    ALLOC.reset();
    let p = ALLOC.take(capacity).map_or(0, |p| p as usize);
    INPUT.0.set((p, if p == 0 { 0 } else { capacity }));
    p
}

/// The first `len` bytes of the input buffer (at most its capacity).
pub fn bytes(len: usize) -> &'static [u8] {
    let (p, capacity) = INPUT.0.get();
    if p == 0 {
        return &[];
    }
    // SAFETY: `p` is a live arena block of `capacity` bytes, allocated by `input` and not freed
    // before the next `input`; `len` is clamped to it. The bytes are initialised: linear memory is.
    unsafe { core::slice::from_raw_parts(p as *const u8, len.min(capacity)) }
}

/// Leaves the answer in memory (until the next [`input`] empties the arena) and returns the
/// address of its words.
pub fn finish(mut out: Out) -> usize {
    out.words[0] = out.strings.as_ptr() as usize as u32;
    out.words[1] = out.strings.len() as u32;
    out.words[2] = out.words.len() as u32;
    debug_assert!(out.words.len() >= HEADER);
    let at = out.words.as_ptr() as usize;
    core::mem::forget(out);
    at
}
