"""The session as one self-contained HTML page: ``--flopbudget-html=PATH`` and ``python -m pytest_flopbudget html``.

One file, nothing fetched (the inline CSS and JS, no CDN; a Content-Security-Policy forbids any request): the
session table, rendered here so it shows without JavaScript, over budget first; then, per measurement, its
unsupported ops and a cost map, an icicle of the module tree drawn by the inline JS as SVG: widths are FLOPs
(or params, by a toggle), hovering shows the numbers, a click zooms into a submodule.

Rendering is pure: a SessionState (measurements and settings) in, one string out. Every user string (test ids,
model and module names) is HTML-escaped in the markup; the data the JS reads is JSON in a
``<script type="application/json">`` block with every ``<``, ``>`` and ``&`` escaped, so no test id can close
the script, and the JS puts text into the page only as text (``textContent``), never as markup.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from .engine.units import format_count
from .state import Measurement, SessionState, in_test_order
from .summary import CONVENTION_TEXT, RIGHT, baseline_notes, status_text, table_rows

#: Rows that shout go first (as in the Markdown summary): over budget, then grown over the baseline, then the rest.
_URGENCY = {"OVER": 0, "GREW": 1, "UNMATCHED": 1}
#: The attribute the page's script sets on <body> once every map is drawn (a browser test waits for it).
RENDERED_ATTRIBUTE = "data-flopbudget-rendered"


def _urgency(m: Measurement) -> int:
    return _URGENCY.get(status_text(m).split(" ")[0], 2)


def _e(text: object) -> str:
    """Text (or an attribute value) that cannot become markup."""
    return html.escape(str(text), quote=True)


def script_json(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no ``<!--``, no entity."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _problems(m: Measurement) -> dict[str, Any]:
    """Ops the measurement could not count: unsupported ones (no formula, or a formula that could not read its
    arguments), and formula errors where the report keeps them apart."""
    found: dict[str, Any] = {}
    if m.report.unsupported:
        found["unsupported ops (not counted, so these FLOPs are too low)"] = dict(m.report.unsupported)
    errors = getattr(m.report, "formula_errors", None)
    if errors:
        found["formula errors"] = dict(errors) if isinstance(errors, dict) else {str(e): "" for e in errors}
    return found


def _problem_items(found: dict[str, Any]) -> str:
    parts = []
    for what, items in found.items():
        listed = ", ".join(f"<code>{_e(op)}</code>" + (f" &times;{_e(count)}" if count != "" else "")
                           for op, count in sorted(items.items(), key=lambda item: str(item[0])))
        parts.append(f"<strong>{_e(what)}:</strong> {listed}")
    return "<br>".join(parts)


def _sort_key(m: Measurement, column: str) -> str | None:
    """The raw number a numeric column sorts by (the shown text is rounded)."""
    report = m.report
    if column == "GFLOPs":
        return str(report.flops)
    if column == "GMACs":
        return str(report.macs)
    if column == "params":
        return str(report.params)
    if column == "share":
        share = m.share
        return "-1" if share is None else ("1e308" if share == float("inf") else repr(share))
    if column == "status":
        return str(_urgency(m))
    return None


def _table(state: SessionState, measurements: list[Measurement]) -> str:
    header, rows = table_rows(state, measurements)
    head = "".join(
        f'<th scope="col" class="{"num" if name in RIGHT else "text"}" data-column="{index}">'
        f'<button type="button" class="sort" title="sort by {_e(name)}">{_e(name)}</button></th>'
        for index, name in enumerate(header))
    body = []
    for index, (m, row) in enumerate(zip(measurements, rows)):
        status = status_text(m).split(" ")[0]
        cells = []
        for column, (name, cell) in enumerate(zip(header, row)):
            key = _sort_key(m, name)
            sort = f' data-sort="{_e(key)}"' if key is not None else ""
            classes = "num" if name in RIGHT else "text"
            if column == 0:
                cells.append(f'<td class="{classes}"{sort}><a href="#m{index}">{_e(cell)}</a></td>')
            elif name == "status":
                cells.append(f'<td class="{classes} status status-{_e(status.lower())}"{sort}>{_e(cell)}</td>')
            else:
                cells.append(f'<td class="{classes}"{sort}>{_e(cell)}</td>')
        body.append(f'<tr data-index="{index}" data-test-id="{_e(m.test_id)}" data-status="{_e(m.status)}">'
                    + "".join(cells) + "</tr>")
    flops = sum(m.report.flops for m in measurements)
    macs = sum(m.report.macs for m in measurements)
    over = sum(m.status == "over" for m in measurements)
    checked = sum(m.status in ("ok", "over") for m in measurements)
    foot = (f'<tr><th scope="row">total</th><td colspan="{len(header) - 1}">{len(measurements)} '
            f"measurement{'s' if len(measurements) != 1 else ''}, {_e(format_count(flops))} FLOPs, "
            f"{_e(format_count(macs))} MACs; {over} over / {checked} checked</td></tr>")
    return (f'<table id="session" class="session"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody><tfoot>{foot}</tfoot></table>')


def _section(index: int, m: Measurement) -> str:
    report = m.report
    status = status_text(m).split(" ")[0]
    found = _problems(m)
    alert = f'<div class="alert">{_problem_items(found)}</div>' if found else ""
    violations = "".join(f"<li>{_e(violation.render())}</li>" for violation in m.violations)
    violations = f'<ul class="violations">{violations}</ul>' if violations else ""
    costly = sum(1 for stats in report.modules.values() if stats.flops > 0)
    return (
        f'<section class="measurement" id="m{index}" data-index="{index}">'
        f'<h3><span class="status status-{_e(status.lower())}">{_e(status_text(m))}</span> '
        f'<code>{_e(m.test_id)}</code> &mdash; {_e(report.label)}</h3>'
        f'<p class="numbers">{_e(format_count(report.flops))} FLOPs ({_e(report.convention)}) &middot; '
        f"{_e(format_count(report.macs))} MACs &middot; {_e(format_count(report.params))} params &middot; "
        f"{len(report.modules)} modules, {costly} with FLOPs"
        + (f" &middot; budget {_e(m.budget.describe())}" if m.budget is not None else "") + "</p>"
        + alert + violations
        + '<div class="controls">area: '
        f'<button type="button" class="metric" data-metric="flops" aria-pressed="true">FLOPs</button>'
        f'<button type="button" class="metric" data-metric="params" aria-pressed="false">params</button>'
        '<span class="crumbs"></span></div>'
        f'<div class="map" data-index="{index}"><p class="nojs">The cost map needs JavaScript.</p></div>'
        '<p class="detail"></p></section>'
    )


def _data(measurements: list[Measurement]) -> list[dict[str, Any]]:
    return [{
        "test": m.test_id,
        "label": m.report.label,
        "convention": m.report.convention,
        "flops": m.report.flops,
        "macs": m.report.macs,
        "params": m.report.params,
        # name, type, FLOPs, MACs, params, calls: inclusive of submodules; "" is the model
        "modules": [[name, stats.type, stats.flops, stats.macs, stats.params, stats.calls]
                    for name, stats in m.report.modules.items()],
    } for m in measurements]


def render(state: SessionState, *, notes: Sequence[str] | None = None, title: str = "flop budget") -> str:
    """The whole page. ``notes`` are lines shown under the table (default: the baseline notes and crashed
    workers of ``state``)."""
    settings = state.settings
    measurements = sorted(in_test_order(state.measurements), key=_urgency)
    if notes is None:
        notes = ([f"measurements missing from crashed xdist workers: {', '.join(state.lost_workers)}"]
                 if state.lost_workers else []) + baseline_notes(state)
    over = sum(m.status == "over" for m in measurements)
    grew = sum(m.change is not None and m.change.status in ("grew", "unmatched") for m in measurements)
    parts = [f"<h1>{_e(title)}</h1>"]
    if measurements:
        totals = (f"<strong>{len(measurements)}</strong> measurement{'s' if len(measurements) != 1 else ''}, "
                  f"<strong>{over}</strong> over budget")
        if state.baseline is not None:
            totals += f", <strong>{grew}</strong> over the baseline"
        if settings.mode == "warn":
            totals += " (mode warn: reported, no test failed)"
        parts.append(f'<p class="totals">{totals}.</p>')
        parts.append(f"<p>FLOPs follow the <code>{_e(settings.convention)}</code> convention: "
                     f"{_e(CONVENTION_TEXT.get(settings.convention, ''))}.</p>")
        flagged = [(index, m) for index, m in enumerate(measurements) if _problems(m)]
        if flagged:
            items = "".join(f'<li><a href="#m{index}"><code>{_e(m.test_id)}</code> {_e(m.report.label)}</a>: '
                            f"{_problem_items(_problems(m))}</li>" for index, m in flagged)
            parts.append(f'<div class="alert" id="uncounted"><strong>{len(flagged)} measurement'
                         f"{'s' if len(flagged) != 1 else ''} with ops that were not counted:</strong>"
                         f"<ul>{items}</ul></div>")
        parts.append(_table(state, measurements))
    else:
        parts.append("<p>No measurements.</p>")
    if notes:
        parts.append('<pre class="notes">' + _e("\n".join(notes)) + "</pre>")
    if measurements:
        parts.append("<h2>Cost maps</h2><p class=\"hint\">Width is each module's FLOPs (or params), submodules "
                     "below their parent; hover for the numbers, click a module to zoom in, click the top bar "
                     "to zoom out.</p>")
        parts += [_section(index, m) for index, m in enumerate(measurements)]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(parts)
        + f'\n<script type="application/json" id="flopbudget-data">{script_json(_data(measurements))}</script>\n'
        + f"<script>{_JS}</script>\n</body></html>\n"
    )


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.5em;margin:0 0 .4em}h2{margin-top:1.6em}h3{font-size:1.05em;margin:.2em 0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
table.session{border-collapse:collapse;width:100%;font-size:13px}
.session th,.session td{border-bottom:1px solid #d8dee4;padding:3px 8px;vertical-align:top}
.session td.text{word-break:break-all}.session th.text{text-align:left}.num{text-align:right;white-space:nowrap}
.session thead th{background:#f3f5f7;position:sticky;top:0}
button.sort{all:unset;cursor:pointer;font-weight:600}button.sort::after{content:" \\2195";color:#8c959f}
th[aria-sort=ascending] button.sort::after{content:" \\2191";color:#1b1f24}
th[aria-sort=descending] button.sort::after{content:" \\2193";color:#1b1f24}
.session tfoot td,.session tfoot th{font-weight:600;text-align:left}
.status-over{color:#fff;background:#cf222e;font-weight:700;padding:0 4px;border-radius:3px}
.status-grew,.status-unmatched{color:#fff;background:#bc4c00;font-weight:700;padding:0 4px;border-radius:3px}
.status-ok{color:#1a7f37;font-weight:600}
.alert{border:2px solid #cf222e;background:#ffebe9;padding:.5em .8em;margin:.6em 0;border-radius:4px}
.alert ul{margin:.3em 0 0;padding-left:1.4em}
.notes{background:#f6f8fa;padding:.6em;white-space:pre-wrap}
section.measurement{border-top:1px solid #d8dee4;padding-top:.6em;margin-top:1.2em}
.numbers{color:#57606a;margin:.2em 0}.violations{color:#cf222e;margin:.2em 0}
.controls{margin:.4em 0}.controls button{margin-left:.3em;cursor:pointer}
.controls button[aria-pressed=true]{font-weight:700}
.crumbs{margin-left:1em}.crumbs button{all:unset;cursor:pointer;color:#0969da}
.crumbs button::after{content:" /";color:#57606a}
.map svg{width:100%;height:auto;display:block}.map rect{stroke:#fff;stroke-width:1;cursor:pointer}
.map rect:hover{stroke:#1b1f24;stroke-width:2}.map text{font:11px system-ui,sans-serif;pointer-events:none}
.detail{min-height:1.4em;color:#1b1f24;font-size:13px}.hint{color:#57606a}
"""

_JS = r"""
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg", WIDTH = 1000, ROW = 26;
  var data = JSON.parse(document.getElementById("flopbudget-data").textContent);

  function grouped(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function percent(part, whole) { return whole ? (100 * part / whole).toFixed(1) + "%" : "-"; }

  // --- the table: click a header to sort by it (again to reverse); numbers by their raw value
  var table = document.getElementById("session");
  if (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, column) {
      th.querySelector("button").addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column], y = b.cells[column], order;
          if (x.hasAttribute("data-sort")) {
            order = parseFloat(x.getAttribute("data-sort")) - parseFloat(y.getAttribute("data-sort"));
          } else {
            order = x.textContent.localeCompare(y.textContent);
          }
          if (!order) order = a.getAttribute("data-index") - b.getAttribute("data-index");
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  // --- the module tree of one measurement: parents found by qualified name
  function tree(m) {
    var nodes = {}, root = null;
    m.modules.forEach(function (row) {
      nodes[row[0]] = {name: row[0], type: row[1], flops: row[2], macs: row[3], params: row[4], calls: row[5],
                       children: [], parent: null};
    });
    if (!nodes.hasOwnProperty("")) {
      nodes[""] = {name: "", type: m.label, flops: m.flops, macs: m.macs, params: m.params, calls: 1,
                   children: [], parent: null};
    }
    root = nodes[""];
    Object.keys(nodes).forEach(function (name) {
      if (name === "") return;
      var parent = name;
      do {
        var dot = parent.lastIndexOf(".");
        parent = dot < 0 ? "" : parent.slice(0, dot);
      } while (!nodes.hasOwnProperty(parent));
      nodes[name].parent = nodes[parent];
      nodes[parent].children.push(nodes[name]);
    });
    return root;
  }

  function depthOf(node) { var d = 0; while (node.parent) { d++; node = node.parent; } return d; }

  function hue(type) {
    var h = 0;
    for (var i = 0; i < type.length; i++) h = (h * 31 + type.charCodeAt(i)) % 360;
    return h;
  }

  // --- one icicle: the zoomed-into node spans the width, each child below it as wide as its share
  function draw(box, state) {
    var m = state.m, metric = state.metric, top = state.zoom, cells = [], maxDepth = 0;
    function place(node, x, w, depth) {
      if (!(node[metric] > 0) || !(w > 0)) return;
      cells.push({node: node, x: x, w: w, depth: depth});
      maxDepth = Math.max(maxDepth, depth);
      var children = node.children.filter(function (c) { return c[metric] > 0; });
      children.sort(function (a, b) { return b[metric] - a[metric] || (a.name < b.name ? -1 : 1); });
      var sum = children.reduce(function (s, c) { return s + c[metric]; }, 0);
      var scale = w / Math.max(node[metric], sum), cursor = x;
      children.forEach(function (c) { place(c, cursor, c[metric] * scale, depth + 1); cursor += c[metric] * scale; });
    }
    place(top, 0, WIDTH, 0);
    while (box.firstChild) box.removeChild(box.firstChild);
    if (!cells.length) {
      var empty = document.createElement("p");
      empty.textContent = "No module has " + (metric === "flops" ? "FLOPs" : "params") + " to show.";
      box.appendChild(empty);
      return 0;
    }
    var svg = document.createElementNS(SVG, "svg"), height = (maxDepth + 1) * ROW;
    svg.setAttribute("viewBox", "0 0 " + WIDTH + " " + height);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "cost map of " + m.test + " " + m.label);
    var whole = state.root[metric];
    cells.forEach(function (cell) {
      var node = cell.node, g = document.createElementNS(SVG, "g");
      var rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", cell.x.toFixed(3));
      rect.setAttribute("y", cell.depth * ROW);
      rect.setAttribute("width", Math.max(cell.w, 0.5).toFixed(3));
      rect.setAttribute("height", ROW - 1);
      rect.setAttribute("fill", "hsl(" + hue(node.type) + ",55%," + (78 - 4 * Math.min(cell.depth, 6)) + "%)");
      rect.setAttribute("data-module", node.name);
      var shown = node.name === "" ? "(model)" : node.name;
      var lines = [shown + " (" + node.type + ")",
                   "FLOPs: " + grouped(node.flops) + " (" + percent(node.flops, state.root.flops) + " of the model)",
                   "MACs: " + grouped(node.macs),
                   "params: " + grouped(node.params) + " (" + percent(node.params, state.root.params) + ")",
                   "calls: " + grouped(node.calls)];
      var title = document.createElementNS(SVG, "title");
      title.textContent = lines.join("\n");
      rect.appendChild(title);
      rect.addEventListener("mouseenter", function () { state.detail.textContent = lines.join(" \u00b7 "); });
      rect.addEventListener("click", function () {
        state.zoom = node === state.zoom && node.parent ? node.parent : node;
        render(state);
      });
      g.appendChild(rect);
      var chars = Math.floor((cell.w - 8) / 6.2);
      if (chars >= 3) {
        var label = shown.slice(shown.lastIndexOf(".") + 1) + " " + node.type + " " + percent(node[metric], whole);
        var text = document.createElementNS(SVG, "text");
        text.setAttribute("x", (cell.x + 4).toFixed(3));
        text.setAttribute("y", cell.depth * ROW + ROW / 2 + 4);
        text.textContent = label.length > chars ? label.slice(0, Math.max(chars - 1, 1)) + "\u2026" : label;
        g.appendChild(text);
      }
      svg.appendChild(g);
    });
    box.appendChild(svg);
    return cells.length;
  }

  function render(state) {
    var count = draw(state.box, state);
    state.section.setAttribute("data-rects", count);
    var crumbs = state.section.querySelector(".crumbs"), path = [], node = state.zoom;
    while (node) { path.unshift(node); node = node.parent; }
    while (crumbs.firstChild) crumbs.removeChild(crumbs.firstChild);
    if (path.length > 1) {
      path.forEach(function (step) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = step.name === "" ? "(model)" : step.name.slice(step.name.lastIndexOf(".") + 1);
        button.addEventListener("click", function () { state.zoom = step; render(state); });
        crumbs.appendChild(button);
      });
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("section.measurement"), function (section) {
    var index = Number(section.getAttribute("data-index")), m = data[index], root = tree(m);
    var state = {m: m, root: root, zoom: root, metric: "flops", section: section,
                 box: section.querySelector(".map"), detail: section.querySelector(".detail")};
    Array.prototype.forEach.call(section.querySelectorAll("button.metric"), function (button) {
      button.addEventListener("click", function () {
        state.metric = button.getAttribute("data-metric");
        state.zoom = root;
        Array.prototype.forEach.call(section.querySelectorAll("button.metric"), function (other) {
          other.setAttribute("aria-pressed", String(other === button));
        });
        render(state);
      });
    });
    render(state);
  });
  document.body.setAttribute("data-flopbudget-rendered", String(data.length));
})();
"""
