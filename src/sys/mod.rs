//! The only module with `unsafe` code: the io_uring ring and what it points the kernel at,
//! the provided-buffer pool, pipes and splice(2), and raw socket/thread/signal calls. Every `unsafe` block says,
//! in a `// SAFETY:` comment, who owns the memory or fd and why it is still valid.
#![allow(unsafe_code)]

#[cfg(test)]
pub mod alloc_count;
pub mod buf_ring;
pub mod ktls;
pub mod net;
pub mod pipe;
pub mod rusage;
pub mod signals;
pub mod uring;
