#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ (run from anywhere; overwrites the seeds).

The ring_hostile seeds follow the byte order the checker reads (tests/checks/ring.rs): a few
meaningful scenarios the fuzzer then mutates. Keep this in step with that decoder.
"""

import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"


def u64(value):
    return struct.pack("<Q", value & (2**64 - 1))


def event(topic, payload, timestamp_ms):
    topic = topic.encode() if isinstance(topic, str) else topic
    return struct.pack("<HHQ", len(topic), len(payload), timestamp_ms) + topic + payload


def event_seeds():
    valid = event("worker.booted", b"w1", 1234)
    return {
        "valid": valid,
        "empty": event("", b"", 0),
        "utf8_topic": event("température/ü/😀", b"21.5", 2**64 - 1),
        "at_capacity": event("t" * 16, bytes(range(64)), 1 << 40),
        "invalid_utf8": event(b"bad\xc3(", b"", 7),
        "short_header": valid[:5],
        "truncated": valid[:-1],
        "trailing": valid + b"\x00\x00\x00",
        "length_past_end": b"\xff\xff\xff\xff" + bytes(8),
    }


def netid_seeds():
    return {
        "fields": b"7:65535:1099511627775",
        "zero": b"0:0:0",
        "leading_zeros": b"007:00:000000000000000000042",
        "hex": b"0xdc0201abcdef0123",
        "hex_upper": b"0XFFFFFFFFFFFFFFFF",
        "counter_out_of_range": b"255:65535:1099511627776",
        "hex_too_long": b"0x1ffffffffffffffff",
        "two_fields": b"1:2",
        "sign": b"1:+2:3",
        "raw_bytes": bytes([0xDC, 0x02, 0x01, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0xFF]),
    }


# --- ring_hostile -------------------------------------------------------------------------
# Byte order of tests/checks/ring.rs (`run`, `World::overwrite`, `World::step`); a missing byte
# reads as 0.

SIZES = {8: 0, 32: 1, 40: 2}


def ring(n, capacity_log2, k, p, head_mode, head_small, memory, kind=1, node=3, head_raw=None):
    """Settings, the starting head (mode 0-6, or 7 with a raw u64) and the memory byte (0: blank
    slots, anything else: one hostile slot per capacity follows)."""
    out = bytes([SIZES[n], capacity_log2, kind, node, k, p, head_mode, head_small])
    out += u64(head_raw) if head_mode == 7 else b""
    return out + bytes([memory])


def slot(seq=0, length=("ok", 8), kind=1, node=3, version=2, fill=0x41, raw=None):
    """Hostile words of one slot. seq: 0 committed for the window counter of the slot, 1 being
    written, 2 a lap older, 3 a lap later, 4 zero, 5 odd a lap older, 6 off by one, 7 raw."""
    out = bytes([seq]) + (u64(raw) if seq % 8 == 7 else b"")
    mode, arg = length
    if mode == "raw_meta":
        return out + bytes([3]) + u64(arg) + bytes([version, fill])
    out += bytes([{"ok": 0, "over": 1, "huge": 2}[mode]])
    out += bytes([arg]) if mode in ("ok", "over") else b""
    return out + bytes([kind, node, version, fill])


def counter(mode, small=0, raw=None):
    """some_counter: 0 zero, 1 head - small, 2 head + small, 3 window start, 4 raw, 5 head."""
    return bytes([mode + 6 * small]) + (u64(raw) if mode == 4 else b"")


PATIENCE = {"polls": 0, "wait": 1, "giveup_here": 2, "giveup_next": 3}


def poll(cursor):
    return bytes([0, cursor])


def poll_with(cursor, patience):
    return bytes([1, cursor, PATIENCE[patience]])


def poll_limit(cursor, patience, limit):
    return bytes([2, cursor, PATIENCE[patience], limit])


def poll_into(cursor, frames):
    return bytes([3, cursor, frames])


def publish(kind=1, length=8):
    return bytes([4, 0, kind, length])


def stall(length=8, words=1):
    return bytes([5, 0, length, words])


CLAIM_ONLY = bytes([6, 0])
READ_HEAD = bytes([8, 0])
RESET = bytes([10, 0])
TAKE_WRITER = bytes([12, 0])
POLL_ALL = bytes([15, 0])


def overwrite(index, *slot_args, **slot_kwargs):
    return bytes([7, 0, index]) + slot(*slot_args, **slot_kwargs)


def read_seen(index=0):
    return bytes([9, 0, 0, index])


def read_near(node, *counter_args):
    return bytes([9, 0, 1, node]) + counter(*counter_args)


def set_cursor(which, mode, *counter_args):
    """mode 0 from_start, 1 cursor_at_head, 2 from_counter(counter_args)."""
    return bytes([11, which, mode]) + (counter(*counter_args) if mode == 2 else b"")


def writer_publish(frames, cursor=1):
    return bytes([13, cursor, 0, frames - 1])


WRITER_RESET = bytes([13, 0, 2])
WRITER_DROP = bytes([13, 0, 3])


def stuck(odd=True, patience="polls", rounds=1, fill=0):
    """A stuck write (odd) or an abandoned claim, then a later commit, `rounds` times."""
    which = {"polls": 0, "giveup_here": 1, "giveup_other": 2}[patience]
    return bytes([14, 0, (0 if odd else 1) | which << 1 | (rounds - 1) << 3, fill])


def ring_seeds():
    seeds = {}
    # An honest ring of 4 slots at head 6, every slot committed for its window counter.
    seeds["honest"] = (
        ring(32, 2, 1, 2, 0, 6, 1)
        + b"".join(slot(fill=0x41 + i) for i in range(4))
        + counter(1, 3)
        + POLL_ALL + publish() + poll(1) + READ_HEAD + read_seen() + read_near(3, 1, 2)
        + poll_into(0, 2) + poll_limit(2, "polls", 1) + POLL_ALL
    )
    # Stuck writers lap after lap: odd slots, slots odd for an older counter, untaken claims,
    # under every patience.
    seeds["stuck_writer"] = (
        ring(8, 3, 2, 3, 0, 12, 0)
        + counter(5)
        + stuck(True, "polls", 4, 3) + stuck(False, "polls", 4, 5)
        + stuck(True, "giveup_here", 2) + stuck(False, "giveup_here", 2)
        + stuck(True, "giveup_other", 2) + POLL_ALL
        + stall() + publish() + poll_with(1, "wait") + poll_with(1, "giveup_next")
        + poll_with(1, "giveup_here") + POLL_ALL
    )
    # One slot: every stuck write blocks the ring until the slot is overwritten.
    seeds["single_slot"] = (
        ring(8, 0, 1, 1, 0, 3, 0)
        + counter(0)
        + stuck(True, "polls", 3) + stuck(False, "polls", 2) + publish() + POLL_ALL
        + overwrite(0, 0) + POLL_ALL + publish() + POLL_ALL
    )
    # Resets from the ring and from the exclusive writer; cursors of older generations rewind.
    seeds["reset"] = (
        ring(40, 3, 0, 1, 0, 5, 0)
        + counter(1, 2)
        + publish() + publish() + poll(0) + RESET + publish() + POLL_ALL + RESET + RESET
        + TAKE_WRITER + writer_publish(3) + RESET + publish() + POLL_ALL + WRITER_RESET
        + writer_publish(2) + POLL_ALL + WRITER_DROP + publish() + POLL_ALL + READ_HEAD
    )
    # Hostile words in every slot of 16: odd, older and later laps, bad lengths, raw seqs.
    seeds["hostile_words"] = (
        ring(32, 4, 1, 2, 1, 20, 1)
        + b"".join(
            slot(
                seq=i % 7,
                length=[("ok", i), ("over", 1), ("huge", 0)][i % 3],
                node=i,
                fill=i,
            )
            for i in range(15)
        )
        + slot(7, raw=2 * 40 + 2)
        + counter(3)
        + poll_with(0, "polls") + poll_with(1, "wait") + poll_with(2, "giveup_here")
        + POLL_ALL + overwrite(5, 1) + poll(2) + stall() + publish() + POLL_ALL
        + read_near(0, 1, 1) + READ_HEAD
    )
    # A cursor past the head, and slots forged a lap past it.
    seeds["cursor_past_head"] = (
        ring(8, 2, 1, 2, 0, 4, 1)
        + b"".join(slot(3 if i % 2 else 0) for i in range(4))
        + counter(2, 5)
        + POLL_ALL + set_cursor(0, 2, 4, 0, 2**64 - 1) + poll(0) + publish() + POLL_ALL
    )
    # The last representable counters: publishes run out, claims are refused.
    seeds["max_counter"] = (
        ring(8, 2, 1, 1, 4, 4, 0)
        + counter(5)
        + publish() + POLL_ALL + stuck(True, "polls", 2) + publish() + publish() + CLAIM_ONLY
        + TAKE_WRITER + writer_publish(4) + WRITER_DROP + POLL_ALL + RESET + publish() + POLL_ALL
    )
    # The 40-bit id counter wraps inside the window.
    seeds["id_counter_wrap"] = (
        ring(32, 3, 1, 1, 3, 4, 1)
        + b"".join(slot(fill=i) for i in range(8))
        + counter(3)
        + POLL_ALL + publish() + publish() + read_seen(1) + read_near(3, 3)
        + stuck(False, "polls", 3, 2) + POLL_ALL
    )
    # An exclusive writer: multi-writer publishes, claims and resets are refused meanwhile.
    seeds["exclusive_writer"] = (
        ring(8, 2, 1, 0, 0, 0, 0)
        + counter(0)
        + TAKE_WRITER + writer_publish(4) + publish() + stall() + CLAIM_ONLY + RESET
        + TAKE_WRITER + stuck() + POLL_ALL + writer_publish(4) + READ_HEAD + WRITER_DROP
        + stuck(True, "polls", 2) + POLL_ALL
    )
    # A raw head with the lease bit set (dropped) and a slot claiming a counter far past it.
    seeds["head_wraps"] = (
        ring(8, 2, 0, 0, 7, 0, 1, head_raw=2**64 - 3)
        + b"".join(slot(i) for i in range(3))
        + slot(7, raw=2 * (3 + 4 * 1000) + 2)
        + counter(4, raw=2**63)
        + POLL_ALL + READ_HEAD + publish() + READ_HEAD + POLL_ALL
    )
    return seeds


def batch(first, records, overwritten=0, unavailable=0, origin=1, session=7, epoch=0, kind=220):
    """A bridge envelope (bridge/src/envelope.rs): header, then (offset, id, version, kind,
    payload) records; `end` accounts for every counter."""
    end = first + len(records) + overwritten + unavailable
    out = b"ORBB" + struct.pack("<BBHQIIQQQQ", 1, kind, origin, session, epoch, len(records),
                                first, end, overwritten, unavailable)
    for offset, netid, version, frame_kind, payload in records:
        out += struct.pack("<QIQBH", netid, offset, version, frame_kind, len(payload)) + payload
    return out


def bridge_seeds():
    return {
        "two_frames": batch(10, [(0, (220 << 56) | (1 << 40) | 10, 99, 1, b"hello"),
                                 (2, (220 << 56) | (1 << 40) | 12, 100, 2, b"")], overwritten=1),
        "loss_only": batch(1 << 40, [], overwritten=3, unavailable=2),
        "event": batch(0, [(0, 0, 1_700_000_000_000, 220, event("door", b"open", 1))]),
    }


def main():
    for target, seeds in [
        ("bridge_envelope", bridge_seeds()),
        ("event_decode", event_seeds()),
        ("netid_parse", netid_seeds()),
        ("ring_hostile", ring_seeds()),
    ]:
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            old.unlink()
        for name, data in seeds.items():
            (directory / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
