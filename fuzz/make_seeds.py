#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ (run from anywhere; overwrites the seeds).

The ring_hostile seeds follow the byte order the checker reads (tests/checks/ring.rs): a few
meaningful scenarios the fuzzer then mutates. Keep this in step with that decoder.
"""

import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
MAX_COUNTER = (1 << 63) - 2


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

SIZES = {8: 0, 32: 1, 40: 2}
PATIENCE = {"default": 0, "polls": 1, "wait": 2, "giveup": 3}


def ring(n, capacity_log2, kind, node, stall, head_mode, head_small, head_raw=None):
    out = bytes([SIZES[n], capacity_log2, kind, node, 4 if stall is None else stall])
    out += bytes([head_mode, head_small])
    if head_mode % 8 == 7:
        out += u64(head_raw)
    return out


def slot(seq="committed", lap=0, id_=("ok", 0), length=("ok", 8), kind=1, version=2, fill=0x41):
    """One slot: lap (0 window, 1 / 2 laps back, 3 one lap ahead, 4 off by one, 5 raw)."""
    out = bytes([lap[0]]) + u64(lap[1]) if isinstance(lap, tuple) else bytes([lap])
    out += {
        "committed": b"\x00",
        "writing": b"\x04",
        "zero": b"\x05",
    }.get(seq, b"")
    if isinstance(seq, tuple):  # ("raw", value) or ("near", delta 0..4)
        out += b"\x07" + u64(seq[1]) if seq[0] == "raw" else bytes([6, seq[1]])
    mode, arg = id_
    if mode == "raw":
        out += b"\x07" + u64(arg)
    else:
        out += bytes([{"ok": 0, "kind": 5, "counter": 6}[mode], arg])
        out += b"\x00" if mode == "counter" else b""
    mode, arg = length
    out += bytes([{"ok": 0, "over": 6, "huge": 7}[mode], arg])
    return out + bytes([0, kind, version, fill])


def counter(mode, small=0, raw=None):
    """some_counter: 0 zero, 1 head - small, 2 head + small, 3 window start, 4 raw, 5 head."""
    return bytes([mode, small]) + (u64(raw) if mode == 4 else b"")


def poll(cursor, patience="default"):
    return bytes([0, cursor, PATIENCE[patience]])


def publish(kind=1, version=5, length=8, fill=0x30):
    return bytes([6, kind, version, 0, length, fill])


def stall(length=16, words=1):
    return bytes([13, 2, length, words])


READ_HEAD = bytes([10])
RESET = bytes([14])


def read_seen(back=0):
    return bytes([11, 0, back])


def read_near(mode, small=0, node=0):
    return bytes([11, 1]) + counter(mode, small) + bytes([node])


def set_cursor(which, mode, *counter_args):
    return bytes([12, which, mode]) + (counter(*counter_args) if mode == 2 else b"")


def poll_twice(cursor, give_up=False):
    return bytes([0x8F if give_up else 0x0F, cursor])


def ring_seeds():
    seeds = {}
    # An honest ring of 4 slots, head 6: every slot committed for its window counter.
    seeds["honest"] = (
        ring(32, 2, 7, 3, 1, 2, 6)
        + b"".join(slot(fill=0x41 + i) for i in range(4))
        + counter(1, 3)
        + poll(0)
        + poll(1)
        + poll(2, "giveup")
        + publish()
        + poll(1)
        + READ_HEAD
        + read_seen()
        + read_near(1, 2, 3)
        + poll_twice(0)
    )
    # A stuck writer: counter 9 of 8 slots is odd, later counters committed.
    seeds["stuck_writer"] = (
        ring(8, 3, 1, 0, 2, 2, 12)
        + b"".join(slot("writing" if i == 1 else "committed", fill=i) for i in range(8))
        + counter(3)
        + b"".join(poll(0, "polls") for _ in range(4))
        + poll(2, "wait")
        + poll(2, "giveup")
        + stall(8, 0)
        + publish()
        + poll_twice(1)
        + READ_HEAD
    )
    # Hostile words: lengths past N, foreign kinds, wrong id counters, later laps, raw seqs.
    seeds["hostile_words"] = (
        ring(40, 3, 9, 1, 0, 0, 20)
        + slot(length=("over", 3))
        + slot(length=("huge", 0))
        + slot(id_=("kind", 8))
        + slot(id_=("counter", 1))
        + slot(lap=3)
        + slot(lap=1)
        + slot(("raw", 2**64 - 1))
        + slot(("near", 3), id_=("raw", 0x0900_0000_0000_0015))
        + counter(0)
        + poll(0)
        + READ_HEAD
        + publish(length=40)
        + publish(length=48)
        + poll(0, "giveup")
        + bytes([9, 2])
        + slot(lap=2)
        + poll(1)
    )
    # The last representable counters: publishes run into CounterExhausted.
    seeds["max_counter"] = (
        ring(8, 1, 0, 0, None, 4, 6)
        + slot()
        + slot("writing")
        + counter(2, 1)
        + publish()
        + publish()
        + publish()
        + poll(0, "giveup")
        + poll(1)
        + READ_HEAD
        + read_near(5)
    )
    # A head about to wrap u64: the claim wraps it to 0, cursors rewind.
    seeds["head_wraps"] = (
        ring(32, 0, 2, 2, 0, 5, 1)
        + slot()
        + counter(5)
        + publish()
        + publish()
        + publish()
        + poll(0)
        + poll(1)
        + poll(2)
        + READ_HEAD
    )
    # The id counter wraps at 2^40 inside the window.
    seeds["id_counter_wrap"] = (
        ring(8, 2, 4, 9, 3, 3, 9)
        + b"".join(slot(fill=i) for i in range(4))
        + counter(3)
        + poll(2)
        + publish()
        + publish()
        + read_seen(1)
        + read_near(1, 3, 9)
        + READ_HEAD
    )
    # Reset with live cursors, then a cursor past the head and one far behind.
    seeds["reset"] = (
        ring(32, 1, 0, 0, 1, 1, 5)
        + slot()
        + slot()
        + counter(2, 4)
        + poll(0)
        + poll(1)
        + RESET
        + poll(0)
        + publish()
        + poll(1)
        + set_cursor(2, 2, 2, 9)
        + poll(2)
        + set_cursor(0, 1)
        + publish()
        + poll(0)
        + poll_twice(1, True)
    )
    # One slot, lapped over and over.
    seeds["single_slot"] = (
        ring(8, 0, 5, 5, 0, 2, 40)
        + slot(lap=1)
        + counter(4, raw=3)
        + b"".join(publish(fill=i) for i in range(3))
        + poll(0)
        + poll(2)
        + stall(8, 1)
        + publish()
        + poll(1, "wait")
        + READ_HEAD
    )
    return seeds


def main():
    for target, seeds in [
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
