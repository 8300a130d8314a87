#!/usr/bin/env python3
"""Tables and SVG plots from the criterion output of the ring and peers benches
(`cargo bench --manifest-path benches/suite/Cargo.toml --bench ring --bench peers`).

Standard library only (Python 3.11). Reads, under the criterion directory (default
`benches/suite/target/criterion`; pass `$CARGO_TARGET_DIR/criterion` if the benches ran with it
set):

* `**/new/benchmark.json` + `estimates.json` + `sample.json` (criterion's own files);
* `orbit-counts.jsonl` — delivered / lost / abandoned counts appended by
  `benches/suite/benches/peers.rs`;
* `latency_64B/<impl>/orbit-latency.json` — one-way latency histograms from
  `benches/suite/benches/peers.rs`.

Writes `throughput.svg`, `publish.svg`, `publish_samples.svg` and `latency.svg` to the output
directory (default `docs/benchmarks`) and prints Markdown tables of medians with ratios against
the floor and against orbit (`--table`, the default when no `--no-table`).

    python3 scripts/plot_benches.py [--criterion DIR] [--out DIR] [--no-plots] [--no-table]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

IMPLS = ["orbit", "orbit-mw", "floor", "tokio", "crossbeam", "bus", "disruptor"]
COLORS = {
    "orbit": "#1f77b4",
    "orbit-mw": "#17becf",
    "floor": "#7f7f7f",
    "tokio": "#9467bd",
    "crossbeam": "#2ca02c",
    "bus": "#ff7f0e",
    "disruptor": "#d62728",
    "timer": "#bcbd22",
}
SEMANTICS = {
    "orbit": "lossy broadcast",
    "orbit-mw": "lossy broadcast, multi-writer publish",
    "floor": "lossy broadcast",
    "tokio": "lossy broadcast",
    "crossbeam": "back-pressure, channel per reader",
    "bus": "back-pressure broadcast",
    "disruptor": "back-pressure broadcast",
}


# --- loading -------------------------------------------------------------------------------------


def load(criterion: Path) -> dict[str, dict]:
    """full_id -> {group, function, value, median_ns, lo, hi, elements, samples}."""
    out: dict[str, dict] = {}
    for bench in criterion.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        median = est["median"]
        elements = 1
        thr = meta.get("throughput") or {}
        if "Elements" in thr:
            elements = thr["Elements"]
        per_iter: list[float] = []
        sample_file = bench.parent / "sample.json"
        if sample_file.exists():
            sample = json.loads(sample_file.read_text())
            per_iter = [t / i for t, i in zip(sample["times"], sample["iters"]) if i]
        out[meta["full_id"]] = {
            "group": meta["group_id"],
            "function": meta.get("function_id") or "",
            "value": meta.get("value_str") or "",
            "median_ns": median["point_estimate"],
            "lo": median["confidence_interval"]["lower_bound"],
            "hi": median["confidence_interval"]["upper_bound"],
            "elements": elements,
            "samples": per_iter,
        }
    return out


def load_counts(criterion: Path) -> dict[str, dict]:
    """Last reported counts per benchmark id."""
    counts: dict[str, dict] = {}
    path = criterion / "orbit-counts.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                counts[row["id"]] = row
    return counts


def load_latency(criterion: Path) -> dict[str, dict]:
    out = {}
    for impl in IMPLS:
        path = criterion / "latency_64B" / impl / "orbit-latency.json"
        if path.exists():
            out[impl] = json.loads(path.read_text())
    return out


# --- tables --------------------------------------------------------------------------------------


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.2f} ns"


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


def per_element(row: dict) -> float:
    return row["median_ns"] / row["elements"]


def table_cost(data: dict, group: str, title: str, variants: list[str]) -> list[str]:
    """Cost tables (lower is better): ratio = impl / floor and impl / orbit."""
    lines = [f"**{title}** (`{group}`; median, 95% CI of the median; ratio = this / floor, this / orbit)", ""]
    lines.append("| impl | " + " | ".join(f"{v or 'time'}" for v in variants) + " | ×floor | ×orbit |")
    lines.append("|---|" + "---:|" * len(variants) + "---:|---:|")
    for impl in IMPLS + ["timer"]:
        cells = []
        ratios_floor = []
        ratios_orbit = []
        present = False
        for v in variants:
            key = f"{group}/{impl}" + (f"/{v}" if v else "")
            row = data.get(key)
            if row is None:
                cells.append("—")
                continue
            present = True
            ns = per_element(row)
            cells.append(f"{fmt_ns(ns)} [{fmt_ns(row['lo'] / row['elements'])}, {fmt_ns(row['hi'] / row['elements'])}]")
            floor = data.get(f"{group}/floor" + (f"/{v}" if v else ""))
            orbit = data.get(f"{group}/orbit" + (f"/{v}" if v else ""))
            if floor:
                ratios_floor.append(f"{v or ''} {ns / per_element(floor):.2f}".strip())
            if orbit:
                ratios_orbit.append(f"{v or ''} {ns / per_element(orbit):.2f}".strip())
        if present:
            lines.append(f"| {impl} | " + " | ".join(cells) + f" | {', '.join(ratios_floor) or '—'} | {', '.join(ratios_orbit) or '—'} |")
    lines.append("")
    return lines


def table_throughput(data: dict, counts: dict, group: str, title: str) -> list[str]:
    """Throughput tables (higher is better): delivered/s from criterion's median."""
    lines = [f"**{title}** (`{group}`; median delivered frames/s; ratio = this / floor, this / orbit)", ""]
    lines.append("| impl | semantics | delivered/s (median) | ×floor | ×orbit | delivered | lost | abandoned |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
    floor = data.get(f"{group}/floor")
    orbit = data.get(f"{group}/orbit")
    for impl in IMPLS:
        row = data.get(f"{group}/{impl}")
        if row is None:
            continue
        rate = 1e9 / per_element(row)
        rf = rate / (1e9 / per_element(floor)) if floor else None
        ro = rate / (1e9 / per_element(orbit)) if orbit else None
        c = counts.get(f"{group}/{impl}", {})
        lost = c.get("lost")
        delivered = c.get("delivered")
        loss = ""
        if lost is not None and delivered is not None and lost + delivered:
            loss = f" ({100 * lost / (lost + delivered):.1f}%)"
        lines.append(
            f"| {impl} | {SEMANTICS[impl]} | {rate / 1e6:.2f} M/s | {fmt_ratio(rf)} | {fmt_ratio(ro)} | "
            f"{delivered if delivered is not None else '—'} | {str(lost) + loss if lost is not None else '—'} | "
            f"{c.get('abandoned', '—')} |"
        )
    lines.append("")
    return lines


def table_latency(lat: dict) -> list[str]:
    lines = ["**One-way latency** (`latency/64B`: one frame every 2 µs, publish start → frame copied by the reader)", ""]
    lines.append("| impl | frames | mean | p50 | p90 | p99 | p99.9 | p99.99 |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for impl in IMPLS:
        h = lat.get(impl)
        if not h:
            continue
        q = h["quantiles_ns"]
        lines.append(
            f"| {impl} | {h['count']} | {fmt_ns(h['mean_ns'])} | "
            + " | ".join(fmt_ns(q[k]) for k in ["0.5", "0.9", "0.99", "0.999", "0.9999"])
            + " |"
        )
    lines.append("")
    return lines


def tables(data: dict, counts: dict, lat: dict) -> str:
    out: list[str] = []
    for size in [64, 8, 256]:
        out += table_cost(data, f"publish/{size}B", f"Publish, {size} B, back to back", ["0r", "2r", "4r"])
    out += table_cost(data, "publish-paced/64B", "Publish, 64 B, one frame every 2 µs (readers caught up)", ["0r", "2r", "4r"])
    out += table_cost(data, "poll/64B", "Poll, 64 B, per delivered frame (batches of 512)", [""])
    out += table_throughput(data, counts, "spsc/64B", "SPSC, 64 B")
    out += table_throughput(data, counts, "fanout/64B", "Fan-out, 1 writer → 4 readers, 64 B (frames delivered summed over readers)")
    for w in [2, 4]:
        out += table_throughput(data, counts, f"mpw/64B/{w}w", f"{w} writers → 1 reader, 64 B")
        out += table_throughput(data, counts, f"mpw-noreader/64B/{w}w", f"{w} writers, no reader, 64 B (successful publishes/s)")
    out += table_latency(lat)
    return "\n".join(out)


# --- SVG -----------------------------------------------------------------------------------------


class Svg:
    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.items: list[str] = []

    def text(self, x, y, s, size=12, anchor="start", weight="normal", color="#222", rotate=None):
        s = str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        self.items.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{color}"{tr}>{s}</text>'
        )

    def rect(self, x, y, w, h, color, opacity=1.0):
        self.items.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
            f'fill="{color}" fill-opacity="{opacity}"/>'
        )

    def line(self, x1, y1, x2, y2, color="#999", width=1.0, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.items.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
            f'stroke-width="{width}"{d}/>'
        )

    def polyline(self, pts, color, width=1.8):
        p = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        self.items.append(f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="{width}"/>')

    def save(self, path: Path):
        body = "\n".join(self.items)
        path.write_text(
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
            f'viewBox="0 0 {self.w} {self.h}" font-family="DejaVu Sans, Arial, sans-serif">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n'
        )


def nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def hbar_panel(svg: Svg, x0, y0, w, title, rows, unit, fmt):
    """Horizontal bars: rows = [(label, value, color)]; a log axis when values span more than
    50x (so one slow peer does not flatten the others). Returns the panel's height."""
    svg.text(x0, y0 + 14, title, size=13, weight="bold")
    label_w, bar_h, gap = 90, 16, 6
    top = y0 + 26
    values = [v for _, v, _ in rows if v > 0]
    vmax = nice_max(max(values, default=1.0))
    plot_w = w - label_w - 70
    bottom = top + len(rows) * (bar_h + gap)
    log = bool(values) and max(values) / min(values) > 50
    if log:
        lmin = math.floor(math.log10(min(values)))
        lmax = math.ceil(math.log10(max(values)))

        def scale(v):
            return plot_w * (math.log10(max(v, 10**lmin)) - lmin) / (lmax - lmin)

        ticks = [10**e for e in range(lmin, lmax + 1)]
    else:

        def scale(v):
            return plot_w * v / vmax

        ticks = [vmax * i / 4 for i in range(5)]
    for t in ticks:
        gx = x0 + label_w + scale(t)
        svg.line(gx, top - 4, gx, bottom, color="#e5e5e5")
        svg.text(gx, bottom + 12, fmt(t), size=10, anchor="middle", color="#666")
    if log:
        svg.text(x0 + label_w + plot_w, bottom + 24, "(log scale)", size=9, anchor="end", color="#666")
    for i, (label, value, color) in enumerate(rows):
        y = top + i * (bar_h + gap)
        svg.text(x0 + label_w - 6, y + bar_h - 4, label, size=11, anchor="end")
        bw = scale(value)
        svg.rect(x0 + label_w, y, bw, bar_h, color)
        svg.text(x0 + label_w + bw + 4, y + bar_h - 4, fmt(value) + unit, size=10, color="#333")
    return 26 + len(rows) * (bar_h + gap) + 30


def plot_throughput(data: dict, out: Path):
    panels = [("spsc/64B", "SPSC: 1 writer → 1 reader (other core)")]
    panels.append(("fanout/64B", "Fan-out: 1 writer → 4 readers (sum over readers)"))
    panels.append(("mpw/64B/2w", "2 writers → 1 reader"))
    panels.append(("mpw/64B/4w", "4 writers → 1 reader"))
    svg = Svg(860, 40 + 4 * 200)
    svg.text(20, 24, "Delivered frames/s, 64-byte payloads, 1024 slots (criterion median; higher is better)", size=14, weight="bold")
    y = 40
    for group, title in panels:
        rows = []
        for impl in IMPLS:
            row = data.get(f"{group}/{impl}")
            if row:
                rows.append((impl, 1e3 / per_element(row), COLORS[impl]))  # M frames / s
        if rows:
            y += hbar_panel(svg, 20, y, 820, title, rows, " M/s", lambda v: f"{v:.1f}" if v < 100 else f"{v:.0f}")
    svg.h = int(y + 10)
    svg.save(out / "throughput.svg")


def plot_publish(data: dict, out: Path):
    groups = [("publish/64B", "back to back"), ("publish-paced/64B", "one frame every 2 µs, readers caught up")]
    svg = Svg(860, 60)
    svg.text(20, 24, "Publish cost, 64 B, by readers polling on the other core (median; lower is better)", size=14, weight="bold")
    y = 40
    for group, what in groups:
        rows = []
        for impl in IMPLS + (["timer"] if "paced" in group else []):
            for r in ["0r", "2r", "4r"]:
                row = data.get(f"{group}/{impl}/{r}")
                if row:
                    rows.append((f"{impl} {r}", per_element(row), COLORS[impl]))
        if rows:
            y += hbar_panel(svg, 20, y, 820, f"{group} — {what}", rows, " ns", lambda v: f"{v:.1f}" if v < 100 else f"{v:.0f}")
    svg.h = int(y + 10)
    svg.save(out / "publish.svg")


def plot_publish_samples(data: dict, out: Path):
    """Distribution of criterion's per-sample time per publish (box + points), 64 B, no reader."""
    groups = ["publish/64B", "publish-paced/64B"]
    svg = Svg(860, 60)
    svg.text(20, 24, "Publish cost over criterion samples, 64 B (dot: one sample's ns/publish; box: quartiles)", size=14, weight="bold")
    y = 44
    for group in groups:
        rows = []
        for impl in IMPLS:
            for r in ["0r", "4r"]:
                row = data.get(f"{group}/{impl}/{r}")
                if row and row["samples"]:
                    rows.append((f"{impl} {r}", sorted(row["samples"]), COLORS[impl]))
        if not rows:
            continue
        svg.text(20, y + 12, group, size=13, weight="bold")
        top = y + 22
        label_w, h, gap, plot_w = 110, 14, 6, 600
        lo = min(s[0] for _, s, _ in rows)
        hi = max(s[-1] for _, s, _ in rows)
        lmin, lmax = math.floor(math.log10(max(lo, 0.1))), math.ceil(math.log10(hi))
        if lmax == lmin:
            lmax += 1

        def xpos(v):
            return 20 + label_w + plot_w * (math.log10(max(v, 0.1)) - lmin) / (lmax - lmin)

        for e in range(lmin, lmax + 1):
            for m in (1, 2, 5) if lmax - lmin <= 2 else (1,):
                v = m * 10**e
                if 10**lmin <= v <= 10**lmax:
                    svg.line(xpos(v), top - 4, xpos(v), top + len(rows) * (h + gap), color="#e5e5e5")
                    svg.text(xpos(v), top + len(rows) * (h + gap) + 12, fmt_ns(v), size=9, anchor="middle", color="#666")
        for i, (label, s, color) in enumerate(rows):
            yy = top + i * (h + gap)
            svg.text(20 + label_w - 6, yy + h - 3, label, size=11, anchor="end")
            q1, med, q3 = s[len(s) // 4], s[len(s) // 2], s[(3 * len(s)) // 4]
            svg.rect(xpos(q1), yy, xpos(q3) - xpos(q1), h, color, opacity=0.35)
            svg.line(xpos(med), yy, xpos(med), yy + h, color=color, width=2.5)
            for v in s:
                svg.rect(xpos(v) - 1, yy + h / 2 - 1, 2, 2, color)
        y = top + len(rows) * (h + gap) + 30
    svg.h = int(y + 10)
    svg.save(out / "publish_samples.svg")


def plot_latency(lat: dict, out: Path):
    """Complementary CDF of one-way latency (log-log): fraction of frames slower than x."""
    if not lat:
        return
    svg = Svg(860, 460)
    svg.text(20, 24, "One-way latency, 64 B, one frame every 2 µs: fraction of frames slower than x", size=14, weight="bold")
    x0, y0, w, h = 80, 50, 520, 360
    xs = [b[0] for v in lat.values() for b in v["buckets"] if b[0] > 0]
    lmin = math.floor(math.log10(max(min(xs), 10)))
    lmax = math.ceil(math.log10(max(xs) * 1.2))
    ymin_exp = -6

    def xpos(v):
        return x0 + w * (math.log10(max(v, 10**lmin)) - lmin) / (lmax - lmin)

    def ypos(frac):
        f = max(frac, 10**ymin_exp)
        return y0 + h * (0 - math.log10(f)) / (0 - ymin_exp)

    for e in range(lmin, lmax + 1):
        svg.line(xpos(10**e), y0, xpos(10**e), y0 + h, color="#e5e5e5")
        svg.text(xpos(10**e), y0 + h + 16, fmt_ns(10**e), size=10, anchor="middle", color="#555")
    for e in range(0, ymin_exp - 1, -1):
        svg.line(x0, ypos(10**e), x0 + w, ypos(10**e), color="#e5e5e5")
        svg.text(x0 - 6, ypos(10**e) + 4, f"1e{e}" if e else "1", size=10, anchor="end", color="#555")
    svg.text(x0 + w / 2, y0 + h + 34, "latency (log)", size=11, anchor="middle")
    svg.text(24, y0 + h / 2, "fraction slower (log)", size=11, anchor="middle", rotate=-90)
    legend_y = y0 + 10
    for impl in IMPLS:
        v = lat.get(impl)
        if not v:
            continue
        total = v["count"]
        pts = []
        above = total
        for lower, n in v["buckets"]:
            pts.append((xpos(max(lower, 10**lmin)), ypos(above / total)))
            above -= n
            pts.append((xpos(max(lower, 10**lmin)), ypos(above / total if above else 10**ymin_exp)))
        svg.polyline(pts, COLORS[impl])
        svg.line(x0 + w + 20, legend_y, x0 + w + 44, legend_y, color=COLORS[impl], width=3)
        p50 = v["quantiles_ns"]["0.5"]
        p99 = v["quantiles_ns"]["0.99"]
        svg.text(x0 + w + 50, legend_y + 4, f"{impl}", size=11)
        svg.text(x0 + w + 50, legend_y + 18, f"p50 {fmt_ns(p50)}, p99 {fmt_ns(p99)}", size=9, color="#555")
        legend_y += 34
    svg.save(out / "latency.svg")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion", default="benches/suite/target/criterion", type=Path)
    ap.add_argument("--out", default="docs/benchmarks", type=Path)
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--no-table", action="store_true")
    args = ap.parse_args()
    data = load(args.criterion)
    counts = load_counts(args.criterion)
    lat = load_latency(args.criterion)
    if not args.no_table:
        print(tables(data, counts, lat))
    if not args.no_plots:
        args.out.mkdir(parents=True, exist_ok=True)
        plot_throughput(data, args.out)
        plot_publish(data, args.out)
        plot_publish_samples(data, args.out)
        plot_latency(lat, args.out)
        print(f"plots written to {args.out}/")


if __name__ == "__main__":
    main()
