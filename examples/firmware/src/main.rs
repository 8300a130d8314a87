//! orbit-rs on a Cortex-M under QEMU: the SysTick interrupt publishes sensor-like frames into a
//! `static` ring (16 slots × 64 B) while `main` polls it with a `Cursor`, checks every delivered
//! frame and counts loss, and every few polls publishes a frame of its own into the same ring.
//! SysTick fires every thousand core ticks, so it preempts `main` in the middle of polls and in
//! the middle of `main`'s publishes (both counted), and `main` sometimes "processes" while more
//! frames arrive than the ring holds, so frames really are overwritten.
//!
//! The test itself (frames, accounting, verdict, the async phase) is `check.rs`, shared with the
//! RISC-V program in `examples/firmware-riscv/`; this file is the Cortex-M glue: SysTick as the
//! timer interrupt, `wfi`, semihosting for the output and the exit status (0 iff it passed).
//!
//! Run: `bash .ci/qemu.sh` from the repository root.
#![no_std]
#![no_main]

mod check;

use core::fmt;

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;

/// SysTick as the test's timer interrupt.
struct CortexM {
    syst: SYST,
}

impl check::Platform for CortexM {
    /// SysTick periods in core clock ticks.
    const TICK: u32 = 1_000;
    #[cfg(feature = "critical-section")]
    const ASYNC_TICK: u32 = 20_000;

    fn start_timer(&mut self, period: u32) {
        self.syst.set_clock_source(SystClkSource::Core);
        self.syst.set_reload(period - 1);
        self.syst.clear_current();
        self.syst.enable_interrupt();
        self.syst.enable_counter();
    }

    fn stop_timer(&mut self) {
        self.syst.disable_interrupt();
        self.syst.disable_counter();
    }

    #[cfg(feature = "critical-section")]
    fn wait_for_interrupt(&mut self) {
        cortex_m::asm::wfi();
    }

    fn print(&mut self, line: fmt::Arguments<'_>) {
        hprintln!("{}", line);
    }
}

#[exception]
fn SysTick() {
    check::interrupt();
}

#[entry]
fn main() -> ! {
    let core = cortex_m::Peripherals::take().expect("first take");
    let ok = check::run(&mut CortexM { syst: core.SYST });
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}
