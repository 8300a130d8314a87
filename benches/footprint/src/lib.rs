//! What every footprint binary shares: the panic handler, a single-core `critical-section`
//! implementation and the input frame. The baseline links exactly this, so the deltas of the
//! other binaries are what their channel costs.
#![no_std]

use core::hint::black_box;

/// Payload bytes per message, as in the 16 × 64 B rings compared.
pub const PAYLOAD: usize = 64;
/// Messages the channels hold.
pub const DEPTH: usize = 16;

/// A message the optimiser cannot see through: an encoded `codec` event (topic "t/1", 49
/// payload bytes), so orbit's decode has real work to do.
#[inline(never)]
pub fn message() -> [u8; PAYLOAD] {
    let mut m = [0u8; PAYLOAD];
    m[0] = 3; // topic_len
    m[2] = 49; // payload_len
    m[12..15].copy_from_slice(b"t/1");
    black_box(m)
}

/// Consumes a value so that its computation is kept.
#[inline(never)]
pub fn sink<T>(value: T) {
    black_box(value);
}

/// Defines `_start` for an orbit-rs binary: a `static` ring of `DEPTH` slots × `PAYLOAD` B, and
/// a loop that publishes one message, then runs `$read` with the ring and a cursor in scope
/// (each binary's reader; `()` for none). The baseline does not expand it, so none of orbit-rs
/// is in the baseline.
#[macro_export]
macro_rules! orbit_start {
    (|$ring:ident, $cursor:ident| $read:expr) => {
        static SLOTS: [orbit_rs::Slot<{ $crate::PAYLOAD }>; $crate::DEPTH] =
            [orbit_rs::Slot::EMPTY; $crate::DEPTH];
        static HEAD: orbit_rs::Head = orbit_rs::Head::new();

        // SAFETY (no_mangle): `_start` is the entry symbol of footprint.x; nothing else
        // defines it.
        #[unsafe(no_mangle)]
        pub extern "C" fn _start() -> ! {
            let $ring = orbit_rs::Ring::new(&SLOTS, &HEAD).unwrap_or_else(|_| panic!());
            #[allow(unused_mut, unused_variables)]
            let mut $cursor = orbit_rs::Cursor::from_start();
            loop {
                let m = $crate::message();
                $crate::sink($ring.publish(1, 0, &m));
                $read;
            }
        }
    };
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        black_box(());
    }
}

/// Disables interrupts; the only core and privileged code, as on the targets measured.
struct SingleCore;
critical_section::set_impl!(SingleCore);

// SAFETY: the binaries model single-core firmware running privileged: with interrupts
// disabled nothing else runs, and release restores the state acquire saw.
unsafe impl critical_section::Impl for SingleCore {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        let enabled: bool;
        #[cfg(target_arch = "arm")]
        {
            let primask: u32;
            // SAFETY: reads PRIMASK and sets it; no memory is touched.
            unsafe { core::arch::asm!("mrs {}, PRIMASK", "cpsid i", out(reg) primask) };
            enabled = primask & 1 == 0;
        }
        #[cfg(target_arch = "riscv32")]
        {
            let mstatus: u32;
            // SAFETY: clears mstatus.MIE (machine mode) and returns the old mstatus.
            unsafe { core::arch::asm!("csrrci {}, mstatus, 8", out(reg) mstatus) };
            enabled = mstatus & 8 != 0;
        }
        enabled
    }

    unsafe fn release(enabled: critical_section::RawRestoreState) {
        if enabled {
            #[cfg(target_arch = "arm")]
            // SAFETY: re-enables interrupts that acquire found enabled.
            unsafe {
                core::arch::asm!("cpsie i")
            };
            #[cfg(target_arch = "riscv32")]
            // SAFETY: re-enables interrupts that acquire found enabled.
            unsafe {
                core::arch::asm!("csrsi mstatus, 8")
            };
        }
    }
}
