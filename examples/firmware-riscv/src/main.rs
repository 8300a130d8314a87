//! orbit-rs on RISC-V (riscv32imc) under QEMU's `virt` machine: the same test as the Cortex-M
//! example (`examples/firmware/`), whose `check.rs` this program includes. The machine timer
//! interrupt (the CLINT's `mtime`/`mtimecmp`, re-armed in its handler) publishes sensor-like
//! frames into a `static` ring while `main` polls it, checks every frame, counts loss and
//! publishes frames of its own; the interrupt preempts `main`'s polls and publishes.
//!
//! This file is the RISC-V glue: the CLINT timer, `wfi`, semihosting for the output and the
//! exit status (0 iff the test passed), and a panic handler that reports over semihosting too.
//!
//! Run: `bash .ci/qemu.sh` from the repository root.
#![no_std]
#![no_main]

#[path = "../../firmware/src/check.rs"]
mod check;

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use riscv::interrupt::Interrupt;
use riscv_semihosting::{debug, hprintln};

/// Hart 0's `mtimecmp` (two 32-bit halves, low first) and the free-running `mtime`, in the
/// CLINT of QEMU's `virt` machine. `mtime` counts at 10 MHz: with `-icount shift=3` (8 ns per
/// instruction) one tick is 12.5 instructions.
const MTIMECMP: *mut u32 = 0x0200_4000 as *mut u32;
const MTIME: *const u32 = 0x0200_BFF8 as *const u32;

/// The timer period in `mtime` ticks; read by the handler to re-arm the timer.
static PERIOD: AtomicU32 = AtomicU32::new(0);

/// The current `mtime` (its halves read high, low, high until the high half is stable).
fn mtime() -> u64 {
    loop {
        // SAFETY: volatile MMIO reads of the CLINT's `mtime` register, which exists at this
        // address on QEMU's `virt` machine, is always readable and is aliased by no Rust object;
        // reading has no side effect.
        let (hi, lo, again) = unsafe {
            (
                MTIME.add(1).read_volatile(),
                MTIME.read_volatile(),
                MTIME.add(1).read_volatile(),
            )
        };
        if hi == again {
            return u64::from(hi) << 32 | u64::from(lo);
        }
    }
}

/// Sets hart 0's `mtimecmp` to `at`.
fn set_mtimecmp(at: u64) {
    // SAFETY: volatile MMIO writes to hart 0's `mtimecmp` in the CLINT of QEMU's `virt` machine
    // (a device register no Rust object aliases). The low half goes to all ones first, so that
    // no intermediate 64-bit value is earlier than both the old and the new one (no spurious
    // interrupt between the writes).
    unsafe {
        MTIMECMP.write_volatile(u32::MAX);
        MTIMECMP.add(1).write_volatile((at >> 32) as u32);
        MTIMECMP.write_volatile(at as u32);
    }
}

/// The CLINT machine timer as the test's timer interrupt.
struct Virt;

impl check::Platform for Virt {
    /// 400 `mtime` ticks = 5 000 instructions under `-icount shift=3`: what SysTick's 1 000 core
    /// ticks are on mps2-an386 (25 MHz).
    const TICK: u32 = 400;
    #[cfg(feature = "critical-section")]
    const ASYNC_TICK: u32 = 8_000;

    fn start_timer(&mut self, period: u32) {
        PERIOD.store(period, Relaxed);
        set_mtimecmp(mtime() + u64::from(period));
        // SAFETY: `check::run` calls this outside any critical section, so enabling the timer
        // interrupt breaks none; its handler touches only atomics, the CLINT and the ring, whose
        // own critical sections mask it (they clear `mstatus.MIE`).
        unsafe { riscv::interrupt::enable_interrupt(Interrupt::MachineTimer) };
    }

    fn stop_timer(&mut self) {
        riscv::interrupt::disable_interrupt(Interrupt::MachineTimer);
        set_mtimecmp(u64::MAX);
    }

    #[cfg(feature = "critical-section")]
    fn wait_for_interrupt(&mut self) {
        riscv::asm::wfi();
    }

    fn print(&mut self, line: fmt::Arguments<'_>) {
        hprintln!("{}", line);
    }
}

/// Re-arms the timer one period from now (like SysTick's reload, without catching up on
/// missed periods), then does the test's interrupt work.
#[riscv_rt::core_interrupt(Interrupt::MachineTimer)]
fn machine_timer() {
    set_mtimecmp(mtime() + u64::from(PERIOD.load(Relaxed)));
    check::interrupt();
}

#[riscv_rt::entry]
fn main() -> ! {
    // SAFETY: no critical section is open here; the only enabled source is the machine timer
    // once `start_timer` enables it (see there).
    unsafe { riscv::interrupt::enable() };
    let ok = check::run(&mut Virt);
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        riscv::asm::wfi();
    }
}

/// Like `panic-semihosting` with its `exit` feature on the Cortex-M side: print, exit failing.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    riscv::interrupt::disable();
    hprintln!("{}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        riscv::asm::wfi();
    }
}
