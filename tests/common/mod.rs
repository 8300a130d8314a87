//! Helpers shared by the fleet and shared-memory tests.
#![allow(dead_code, unused_macros)]

use std::sync::Arc;

use orbit_rs::{Fleet, Result};

/// A fleet name unique to this process and label, so parallel test runs never share segments.
pub fn unique_name(label: &str) -> String {
    format!("t{}-{label}", std::process::id())
}

/// A fleet joined on one backing; shared-memory segments are unlinked on drop.
pub struct TestFleet(pub Arc<Fleet>);

impl Drop for TestFleet {
    fn drop(&mut self) {
        let _ = self.0.unlink();
    }
}

/// The two backings under test.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Local,
    Shm,
}

pub fn join(kind: Kind, label: &str, node: u16) -> Result<TestFleet> {
    let name = unique_name(label);
    let fleet = match kind {
        Kind::Local => Fleet::join(&name, node)?,
        Kind::Shm => Fleet::join_shm(&name, node)?,
    };
    Ok(TestFleet(Arc::new(fleet)))
}

/// Instantiates each `fn name(kind: Kind)` test once per backing: `in_process::name` and
/// (with the `shm` feature on Unix) `shared_memory::name`.
macro_rules! on_both_backings {
    ($($test:ident),* $(,)?) => {
        mod in_process {
            $(#[test] fn $test() { super::$test(super::Kind::Local) })*
        }
        #[cfg(all(feature = "shm", unix))]
        mod shared_memory {
            $(#[test] fn $test() { super::$test(super::Kind::Shm) })*
        }
    };
}
