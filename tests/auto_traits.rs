//! Pins the auto traits of the public types: handles and frames are shareable across threads;
//! slot memory is `Sync` (it is all atomics) so a `static` array of slots compiles.

use orbit_rs::{Cursor, Frame, FrameRef, Head, NetId64, Poll, Ring, Slot};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_copy<T: Copy>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<Slot<64>>();
    assert_send_sync::<Head>();
    assert_send_sync::<Ring<'static, 64>>();
    assert_send_sync::<Cursor>();
    assert_send_sync::<Frame<64>>();
    assert_send_sync::<FrameRef<'static>>();
    assert_send_sync::<Poll>();
    assert_send_sync::<NetId64>();
    #[cfg(feature = "std")]
    {
        assert_send_sync::<orbit_rs::OwnedRing<64>>();
        assert_send_sync::<orbit_rs::OwnedWriter<64>>();
    }
    assert_copy::<Ring<'static, 8>>();
    assert_copy::<Cursor>();
}
