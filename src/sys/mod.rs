//! The only module with `unsafe` code: the io_uring ring and what it points the kernel at,
//! the provided-buffer pool, pipes and splice(2), and raw socket/thread/signal calls. Every `unsafe` block says,
//! in a `// SAFETY:` comment, who owns the memory or fd and why it is still valid.
#![allow(unsafe_code)]

#[cfg(test)]
pub(crate) mod alloc_count;
pub(crate) mod buf_ring;
pub mod ktls;
pub(crate) mod net;
pub(crate) mod pipe;
pub mod rusage;
pub(crate) mod signals;
pub(crate) mod uring;
