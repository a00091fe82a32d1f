//! The connection's stages without sockets: the keywords terminations are logged with, each
//! stage's deadline and health-mark rule, and every termination the core decides reached
//! through the core's own state machines.

use super::*;
use crate::relay::RelayBuf;
use crate::relay::splice::PipeCapacity;

mod connection;
mod keywords;
mod stages;
mod terminations;

/// A buffer of the driver's, as far as the relay cares: its length.
#[derive(Debug, PartialEq)]
struct TestBuf(u32);

impl RelayBuf for TestBuf {
    fn len(&self) -> u32 {
        self.0
    }
}

struct TestPipe;

impl PipeCapacity for TestPipe {
    fn capacity(&self) -> u32 {
        64 * 1024
    }
}

type TestStage = Stage<TestBuf, TestPipe>;
