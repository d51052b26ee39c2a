//! The wasm's global allocator: a bump arena over linear memory that empties between calls.
//!
//! Every export allocates only while it runs, plus its answer, which must stay until the JS glue has
//! read it. A call starts with `io::input`, which [`Arena::reset`]s the arena (the previous answer has
//! been read by then) and takes the input buffer from it; the work and the answer follow. Within a
//! call an allocation costs an add and a compare, `dealloc` is a decrement, and the most recent
//! allocation grows, shrinks and frees in place (the common case for a `Vec` being written); when the
//! live count drops to zero the bump pointer goes back to the start.
//!
//! Memory therefore peaks at what one call allocates in total, and never grows across calls.
//! Single-threaded: the wasm has one thread (no atomics target feature).

#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32::memory_grow;
use core::cell::Cell;
use core::ptr::{self, null_mut};

const PAGE: usize = 65_536;

/// The bump arena. `top..end` is free; everything in the arena lies below `top`.
#[derive(Debug)]
pub struct Arena {
    /// Start of the current region (where `top` returns when nothing is live).
    base: Cell<usize>,
    /// Next free byte.
    top: Cell<usize>,
    /// End of the memory the arena owns.
    end: Cell<usize>,
    /// Allocations not yet freed.
    live: Cell<usize>,
}

// SAFETY: wasm32-unknown-unknown without the `atomics` feature runs one thread, so the `Cell`s are
// never touched concurrently.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena that owns no memory yet.
    pub const fn new() -> Self {
        Arena { base: Cell::new(0), top: Cell::new(0), end: Cell::new(0), live: Cell::new(0) }
    }

    /// `size` bytes at `align` from the bump pointer, growing linear memory when needed; `None`
    /// when memory cannot grow.
    fn bump(&self, size: usize, align: usize) -> Option<usize> {
        let start = self.top.get().checked_add(align - 1)? & !(align - 1);
        let next = start.checked_add(size)?;
        // (Before the first allocation `end` is 0, so this fails: `GlobalAlloc` never sees size 0.)
        if next <= self.end.get() {
            self.top.set(next);
            return Some(start);
        }
        // Grow memory by at least what is missing (and at least 16 pages, to grow rarely).
        let need = size.checked_add(align)?;
        let pages = need.div_ceil(PAGE).max(16);
        let old = memory_grow(0, pages);
        if old == usize::MAX {
            return None;
        }
        let grown = old * PAGE;
        if grown != self.end.get() {
            // First region, or memory grew under us: start afresh at the new pages. What lies in
            // the old region stays valid until freed; it is simply not reused.
            self.base.set(grown);
            self.top.set(grown);
        }
        self.end.set(grown + pages * PAGE);
        let start = self.top.get().checked_add(align - 1)? & !(align - 1);
        let next = start.checked_add(size)?;
        self.top.set(next);
        Some(start)
    }
}

impl Arena {
    /// Frees everything at once: the bump pointer goes back to the start of the region. Only for
    /// the start of a call, when nothing allocated before it is used again (the previous answer,
    /// which the glue has already read, is the only thing left; see `io.rs`).
    pub fn reset(&self) {
        self.live.set(0);
        self.top.set(self.base.get());
    }

    /// `size` bytes at the bump pointer, counted as one live allocation; `None` when memory cannot
    /// grow.
    pub fn take(&self, size: usize) -> Option<*mut u8> {
        let p = self.bump(size.max(1), 8)?;
        self.live.set(self.live.get() + 1);
        Some(p as *mut u8)
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `alloc` returns a block of `layout.size()` bytes at `layout.align()` that no other live
// allocation overlaps: blocks are carved from `top` upwards, and `top` only moves back over the
// most recent block when it is freed or shrunk, or to `base` when no block is live at all.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout.size(), layout.align()) {
            Some(p) => {
                self.live.set(self.live.get() + 1);
                p as *mut u8
            }
            None => null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let live = self.live.get() - 1;
        self.live.set(live);
        if live == 0 {
            self.top.set(self.base.get());
        } else if ptr as usize + layout.size() == self.top.get() {
            // The most recent block: give its bytes back.
            self.top.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let at = ptr as usize;
        if at + layout.size() == self.top.get() {
            // The most recent block grows or shrinks in place.
            if let Some(next) = at.checked_add(new_size) {
                if next <= self.end.get() {
                    self.top.set(next);
                    return ptr;
                }
            }
        } else if new_size <= layout.size() {
            return ptr;
        }
        let Some(new) = self.bump(new_size, layout.align()) else {
            return null_mut();
        };
        let new = new as *mut u8;
        // SAFETY: `ptr` is a live block of `layout.size()` bytes, `new` a fresh one of `new_size`
        // bytes after it (the arena only grows upwards), so the ranges do not overlap.
        unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        // The old block stays behind until the arena empties (the count is unchanged: one block
        // replaced another).
        new
    }
}
