//! Model test: random publish / stuck-write / poll / reset sequences against a simple
//! reference model of the ring, for capacities 1–16 and several cursors. Frames, loss counts,
//! `read_head` and cursor positions must match exactly.
//!
//! The model states the contract, not the implementation: counters grow for ever; a reset
//! starts a generation at the head (slots untouched) and users count from its base; a cursor
//! of an older generation restarts at 0 of the new one.
#![cfg(not(miri))]

use orbit_rs::{Cursor, Head, Patience, PublishError, Ring, Slot};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Publish(u8, u8),
    StallMidWrite,
    Poll(usize, bool),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..=32, any::<u8>()).prop_map(|(len, fill)| Op::Publish(len, fill)),
        1 => Just(Op::StallMidWrite),
        5 => (0usize..3, any::<bool>()).prop_map(|(c, g)| Op::Poll(c, g)),
        1 => Just(Op::Reset),
    ]
}

#[derive(Clone, Debug, PartialEq)]
enum ModelSlot {
    Empty,
    Writing(u64),
    Committed(u64, Vec<u8>),
}

struct Model {
    cap: u64,
    /// Next internal counter.
    head: u64,
    /// First internal counter of the current generation.
    base: u64,
    slots: Vec<ModelSlot>,
}

#[derive(Clone, Copy)]
struct ModelCursor {
    /// Relative to the cursor's generation.
    next: u64,
    /// The base of the generation the cursor is in, once it polled.
    base: Option<u64>,
}

#[derive(Debug, Default, PartialEq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    overwritten: u64,
    unavailable: u64,
    rewound: bool,
    next: u64,
}

impl Model {
    fn slot(&self, c: u64) -> &ModelSlot {
        &self.slots[(c % self.cap) as usize]
    }

    /// Returns Ok(true) if written, Ok(false) if the slot was busy (frame abandoned).
    fn claim(&mut self, state: impl FnOnce(u64) -> ModelSlot) -> bool {
        let c = self.head;
        self.head += 1;
        let idx = (c % self.cap) as usize;
        if matches!(self.slots[idx], ModelSlot::Writing(_)) {
            return false;
        }
        self.slots[idx] = state(c);
        true
    }

    fn committed_at(&self, c: u64) -> bool {
        matches!(self.slot(c), ModelSlot::Committed(k, _) if *k == c)
    }

    fn poll(&self, cursor: &mut ModelCursor, give_up: bool) -> Outcome {
        let mut out = Outcome::default();
        if cursor.base.is_some_and(|b| b != self.base) {
            out.rewound = true;
            cursor.next = 0;
        }
        cursor.base = Some(self.base);
        let oldest = self.head.saturating_sub(self.cap);
        let mut next = self.base + cursor.next;
        if next < oldest {
            out.overwritten += oldest - next;
            next = oldest;
        }
        while next < self.head {
            match self.slot(next) {
                ModelSlot::Committed(k, bytes) if *k == next => out.frames.push(bytes.clone()),
                ModelSlot::Committed(k, _) | ModelSlot::Writing(k) if *k > next => {
                    out.overwritten += 1
                }
                _ => {
                    // Pending: stuck only if a later counter is committed.
                    let later = (next + 1..self.head).any(|c| self.committed_at(c));
                    if !later || !give_up {
                        break;
                    }
                    out.unavailable += 1;
                }
            }
            next += 1;
        }
        cursor.next = next - self.base;
        out.next = cursor.next;
        out
    }

    fn read_head(&self) -> Option<Vec<u8>> {
        let oldest = self.head.saturating_sub(self.cap).max(self.base);
        (oldest..self.head).rev().find_map(|c| match self.slot(c) {
            ModelSlot::Committed(k, bytes) if *k == c => Some(bytes.clone()),
            _ => None,
        })
    }
}

fn run(cap: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let mem: Vec<Slot<32>> = (0..cap).map(|_| Slot::new()).collect();
    let head = Head::new();
    // Every poll looks at the head, as the model does; the head-check period of caught-up
    // readers is covered exactly by the hostile-memory shadow (`tests/checks/ring.rs`).
    let ring = Ring::new(&mem, &head)
        .unwrap()
        .with_stall_polls(0)
        .with_head_check_polls(1);
    let mut model = Model {
        cap: cap as u64,
        head: 0,
        base: 0,
        slots: vec![ModelSlot::Empty; cap],
    };
    let mut cursors = [Cursor::from_start(); 3];
    let mut model_cursors = [ModelCursor {
        next: 0,
        base: None,
    }; 3];
    for op in ops {
        match *op {
            Op::Publish(len, fill) => {
                let bytes = vec![fill; len.into()];
                let real = ring.publish(1, 0, &bytes);
                let written = model.claim(|c| ModelSlot::Committed(c, bytes.clone()));
                match real {
                    Ok(id) => {
                        prop_assert!(written);
                        prop_assert_eq!(id.counter(), model.head - 1 - model.base);
                    }
                    Err(PublishError::SlotBusy { .. }) => prop_assert!(!written),
                    Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                }
            }
            Op::StallMidWrite => {
                let real = ring.stall_mid_write_for_test(1, 0, &[0xEE; 20], 1);
                let written = model.claim(ModelSlot::Writing);
                prop_assert_eq!(real.is_ok(), written);
            }
            Op::Poll(i, give_up) => {
                // With no stall polls, `Patience::Polls` gives up on every stuck counter at once.
                let patience = if give_up {
                    Patience::Polls
                } else {
                    Patience::Wait
                };
                let mut frames = Vec::new();
                let poll = ring.poll_with(&mut cursors[i], patience, |f| {
                    frames.push(f.payload.to_vec())
                });
                let want = model.poll(&mut model_cursors[i], give_up);
                let got = Outcome {
                    frames,
                    overwritten: poll.loss.overwritten,
                    unavailable: poll.loss.unavailable,
                    rewound: poll.rewound,
                    next: cursors[i].next_counter(),
                };
                prop_assert_eq!(got, want);
            }
            Op::Reset => {
                ring.reset().unwrap();
                model.base = model.head;
            }
        }
        prop_assert_eq!(
            ring.read_head().map(|f| f.payload.to_vec()),
            model.read_head()
        );
        prop_assert_eq!(ring.head(), model.head - model.base);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ring_matches_model(cap_log in 0u32..=4, ops in proptest::collection::vec(op(), 0..120)) {
        run(1 << cap_log, &ops)?;
    }
}
