"""Bar charts as inline SVG, drawn on the server: the report page loads no script and nothing from outside.
Every bar is a link (to the calls behind it) with a tooltip."""

from __future__ import annotations

from markupsafe import Markup, escape

COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]
W, H, LEFT, BOTTOM, TOP = 760, 240, 48, 56, 10


def _ticks(top: float) -> list[float]:
    step = 10 ** max(0, len(str(int(top))) - 1) if top >= 10 else (1 if top > 4 else 0.5)
    while top / step > 5:
        step *= 2
    return [i * step for i in range(int(top / step) + 1)]


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


def stacked(xs: list[str], series: list[tuple[str, dict[str, tuple[float, str]]]], unit: str, label: str) -> Markup:
    """Vertical bars, one per x, stacked by series; series: [(name, {x: (value, href)})]."""
    totals = [sum(s.get(x, (0, ""))[0] for _, s in series) for x in xs]
    top = max(totals, default=0) or 1
    ticks = _ticks(top)
    top = max(top, ticks[-1])
    plot_w, plot_h = W - LEFT - 8, H - BOTTOM - TOP
    bw = plot_w / max(len(xs), 1)
    out = [f'<svg class="chart" viewBox="0 0 {W} {H + 18 * ((len(series) + 3) // 4 if len(series) > 1 else 0)}" role="img" '
           f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">']
    for t in ticks:
        y = TOP + plot_h - t / top * plot_h
        out.append(f'<line x1="{LEFT}" x2="{W - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{LEFT - 4}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_num(t)}</text>')
    every = max(1, len(xs) // 16)
    for i, x in enumerate(xs):
        base = TOP + plot_h
        for k, (name, s) in enumerate(series):
            value, href = s.get(x, (0, ""))
            if not value:
                continue
            h = value / top * plot_h
            base -= h
            tip = f"{x} · {name}: {_num(value)} {unit}" if len(series) > 1 else f"{x}: {_num(value)} {unit}"
            out.append(f'<a href="{escape(href)}" class="bar" data-x="{escape(x)}" data-series="{escape(name)}">'
                       f'<rect x="{LEFT + i * bw + bw * 0.1:.1f}" y="{base:.1f}" width="{max(bw * 0.8, 1):.1f}" height="{max(h, 0.5):.1f}" '
                       f'fill="{COLOURS[k % len(COLOURS)]}"><title>{escape(tip)}</title></rect></a>')
        if i % every == 0:
            cx = LEFT + (i + 0.5) * bw
            out.append(f'<text x="{cx:.1f}" y="{TOP + plot_h + 12}" class="tick" text-anchor="end" '
                       f'transform="rotate(-35 {cx:.1f} {TOP + plot_h + 12})">{escape(str(x)[:22])}</text>')
    if len(series) > 1:
        for k, (name, _) in enumerate(series):
            lx, ly = LEFT + (k % 4) * 178, H + 4 + 18 * (k // 4)
            out.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{COLOURS[k % len(COLOURS)]}"/>'
                       f'<text x="{lx + 14}" y="{ly + 9}" class="tick">{escape(str(name)[:26])}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def horizontal(rows: list[tuple[str, float, str]], unit: str, label: str) -> Markup:
    """One bar per row: (label, value, href), longest label at most 40 characters."""
    top = max((v for _, v, _ in rows), default=0) or 1
    row_h, left = 22, 300
    out = [f'<svg class="chart" viewBox="0 0 {W} {len(rows) * row_h + 8}" role="img" aria-label="{escape(label)}" '
           'xmlns="http://www.w3.org/2000/svg">']
    for i, (name, value, href) in enumerate(rows):
        y = 4 + i * row_h
        w = value / top * (W - left - 70)
        out.append(f'<text x="{left - 6}" y="{y + 15}" class="tick" text-anchor="end">{escape(str(name)[:40])}</text>'
                   f'<a href="{escape(href)}" class="bar" data-x="{escape(name)}"><rect x="{left}" y="{y + 3}" width="{max(w, 1):.1f}" '
                   f'height="{row_h - 6}" fill="{COLOURS[0]}"><title>{escape(name)}: {_num(value)} {unit}</title></rect></a>'
                   f'<text x="{left + w + 4:.1f}" y="{y + 15}" class="tick">{_num(value)} {escape(unit)}</text>')
    out.append("</svg>")
    return Markup("".join(out))
