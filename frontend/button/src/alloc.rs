//! A bump allocator: the button lives for one page view and allocates a few kilobytes
//! per click, so never freeing is cheaper than carrying a general allocator (dlmalloc
//! alone was about 7 KB of the bundle).

use core::{
    alloc::{GlobalAlloc, Layout},
    cell::UnsafeCell,
};

const PAGE: usize = 65536;

pub struct Bump {
    next: UnsafeCell<usize>,
    end: UnsafeCell<usize>,
}

// SAFETY: wasm32-unknown-unknown runs the button on one thread.
unsafe impl Sync for Bump {}

impl Bump {
    pub const fn new() -> Self {
        Bump { next: UnsafeCell::new(0), end: UnsafeCell::new(0) }
    }
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let next = &mut *self.next.get();
        let end = &mut *self.end.get();
        let start = (*next + layout.align() - 1) & !(layout.align() - 1);
        let Some(stop) = start.checked_add(layout.size()) else { return core::ptr::null_mut() };
        if stop > *end || *end == 0 {
            let pages = layout.size().div_ceil(PAGE) + 1;
            let first = core::arch::wasm32::memory_grow(0, pages);
            if first == usize::MAX {
                return core::ptr::null_mut();
            }
            let base = first * PAGE;
            let start = (base + layout.align() - 1) & !(layout.align() - 1);
            *next = start + layout.size();
            *end = base + pages * PAGE;
            return start as *mut u8;
        }
        *next = stop;
        start as *mut u8
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
