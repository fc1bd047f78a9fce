"""BENCHMARKS.md's section written by bench/run.py: one column per configuration, from every
JSON file in bench/results/ (`python bench/run.py --report` rebuilds it alone)."""

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BENCHMARKS = HERE.parent / "BENCHMARKS.md"
BEGIN, END = "<!-- bench/run.py -->", "<!-- /bench/run.py -->"
CLIENTS = 16

# key, title, profile, path (formatted with the run's facts), extra headers
PAGES = [
    ("history", "partner history, first page", "technicien", "/demandes/", {}),
    ("history_name", "history filtered by name", "technicien", "/demandes/?q={name}", {}),
    ("history_page", "history, page {page}", "technicien", "/demandes/?page={page}", {}),
    ("request", "a request page", "technicien", "/demandes/{demande}", {}),
    ("queue", "caisse queue", "caisse", "/demandes/queue", {}),
    ("accounts", "account list (gestionnaire)", "gestionnaire", "/accounts/", {}),
    ("dashboard", "caisse dashboard", "caisse", "/", {}),
    ("partial", "history, htmx partial", "technicien", "/demandes/", {"HX-Request": "true"}),
]


def result_file(label, folder=RESULTS):
    return Path(folder) / (re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") + ".json")


def load_results(folder=RESULTS):
    results = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]

    def order(r):
        code = r.get("code") or {}
        engine = 0 if r.get("engine") == "sqlite" else 1
        return (code.get("commit_date") or "", engine, (r.get("sizes") or {}).get("demandes") or 0)

    return sorted(results, key=order)


def fmt_ms(value):
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 10:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def fmt_rate(value):
    return "—" if value is None else (f"{value:,.0f}/s" if value >= 10 else f"{value:.1f}/s")


def fmt_int(value):
    return "—" if value is None else f"{round(value):,}"


def spread(block, key, fmt):
    """A figure's median over the repeats, with its range when they differ."""
    if not block or key not in block.get("median", {}):
        return "—"
    median, low, high = block["median"][key], block["min"][key], block["max"][key]
    text = fmt(median)
    if len(block.get("runs", [])) > 1 and fmt(low) != fmt(high):
        text += f" [{fmt(low)}–{fmt(high)}]"
    return text


def mark(ok):
    return "" if ok is None else (" ✓" if ok else " ✗")


def trouble(block, clients=1):
    """Errors, answers other than 2xx, and runs too short to say much (under 2 answers per
    client, 5 for one client, even after bench/run.py made them longer)."""
    if not block:
        return ""
    errors = sum(r.get("errors", 0) for r in block["runs"])
    non2xx = sum(r.get("non2xx", 0) for r in block["runs"])
    few = min(r.get("requests", 0) for r in block["runs"])
    parts = ([f"{errors} errors"] if errors else []) + ([f"{non2xx} non-2xx"] if non2xx else [])
    if few < max(5, 2 * clients):
        parts.append(f"only {few} answers")
    return f" ⚠ {', '.join(parts)}" if parts else ""


def hello_rps(r):
    return ((r.get("hello") or {}).get(f"c{CLIENTS}") or {}).get("median", {}).get("rps")


def page_rows():
    """(title, target, cell(result)) for each page, 1 client then 16 clients."""
    rows = []
    for key, title, *_ in PAGES:

        def one(r, key=key):
            page = (r.get("pages") or {}).get(key)
            if not page:
                return "—"
            block = page["c1"]
            median = block["median"].get("p50")
            text = spread(block, "p50", fmt_ms)
            tail = block["median"]
            text += f" (p95 {fmt_ms(tail.get('p95'))}, p99 {fmt_ms(tail.get('p99'))})"
            return text + mark(None if median is None else median <= 15) + trouble(block)

        def many(r, key=key):
            page = (r.get("pages") or {}).get(key)
            if not page:
                return "—"
            block = page[f"c{CLIENTS}"]
            p95, rps = block["median"].get("p95"), block["median"].get("rps")
            hello = hello_rps(r)
            ratio = rps / hello if hello and rps is not None else None
            text = f"p95 {spread(block, 'p95', fmt_ms)}, {spread(block, 'rps', fmt_rate)}"
            if ratio is not None:
                text += f" ({ratio:.1%} of hello)"
            ok = None if p95 is None else p95 <= 50
            if key == "history" and ok is not None and ratio is not None:
                ok = ok and ratio >= 0.25
            return text + mark(ok) + trouble(block, CLIENTS)

        target = "p95 ≤ 50 ms" + (", ≥ 25 % of hello" if key == "history" else "")
        shown = title.replace("{page}", "500")
        rows.append((f"{shown} — 1 client: median", "≤ 15 ms", one))
        rows.append((f"{shown} — {CLIENTS} clients", target, many))
    return rows


def report_rows():
    def sizes(r):
        s = r.get("sizes") or {}
        return " / ".join(fmt_int(s.get(k)) for k in ("demandes", "comptes", "structures"))

    def hello(r):
        block = (r.get("hello") or {}).get(f"c{CLIENTS}")
        if not block:
            return "—"
        return f"{spread(block, 'rps', fmt_rate)}, p95 {fmt_ms(block['median'].get('p95'))}"

    def page_500(r):
        facts = r.get("facts") or {}
        if not facts:
            return "—"
        return f"page {facts['page']} of {facts['last_page']}"

    def partial(r):
        p = r.get("partial")
        if not p:
            return "—"
        return (
            f"{p['bytes'] / 1000:.1f} KB of {p['full_bytes'] / 1000:.1f} KB "
            f"({p['ratio']:.0%}){mark(p['ratio'] <= 0.25)}"
        )

    def dashboard(r):
        page = (r.get("pages") or {}).get("dashboard")
        return "—" if not page else f"{page['bytes'] / 1000:.0f} KB"

    def writes(r):
        w = r.get("write")
        if not w:
            return "—"
        ok = w["acknowledged_per_s"] >= 100 and w["p95"] <= 300
        return (
            f"{w['acknowledged_per_s']:.1f}/s, p95 {fmt_ms(w['p95'])}, p99 "
            f"{fmt_ms(w['p99'])}{mark(ok)}"
        )

    def write_checks(r):
        w = r.get("write")
        if not w:
            return "—"
        bad = w["errors"] + w["refused"] + w["lost"] + w["stored_twice"] + w["id_mismatch"]
        text = (
            f"{fmt_int(w['acknowledged'])} acknowledged: {w['errors']} errors, "
            f"{w['refused']} refused, {w['lost']} lost, {w['stored_twice']} stored twice"
        )
        if w.get("refused_statuses"):
            text += (
                " (" + ", ".join(f"HTTP {k}: {v}" for k, v in w["refused_statuses"].items()) + ")"
            )
        return text + mark(bad == 0)

    def export(fmt):
        def cell(r):
            e = (r.get("exports") or {}).get(fmt)
            if not e:
                return "—"
            m, peak = e["median"], e["max"]["peak_growth_mb"]
            rows = f"{fmt_int(m['rows'])} rows, " if m.get("rows") else ""
            size = f"{m['bytes'] / 1e6:.1f} MB, " if m.get("bytes") else ""
            ok = m["total_s"] <= 2 and peak <= 30
            return (
                f"{rows}{size}{spread(e, 'total_s', lambda v: f'{v:.2f} s')}, "
                f"+{peak:.0f} MB{mark(ok)}"
            )

        return cell

    def housekeeping(r):
        h = r.get("housekeeping")
        if not h:
            return "—"
        text = f"{h['seconds']:.1f} s" + (f" (exit {h['returncode']})" if h["returncode"] else "")
        return text + mark(h["seconds"] <= 10 and h["returncode"] == 0)

    def during(r):
        h = r.get("housekeeping")
        if not h:
            return "—"
        parts = []
        for key, name in (("history", "history"), ("request", "request page")):
            p = h["pages"][key]
            if p["during"] and p["before"]:
                parts.append(
                    f"{name} max {fmt_ms(p['during']['max'])} "
                    f"(before: {fmt_ms(p['before']['max'])})"
                )
        return "; ".join(parts) + (
            f" ⚠ {len(h['non200_during'])} non-200" if h["non200_during"] else ""
        )

    return [
        ("data: requests / accounts / structures", "", sizes),
        (f"hello world, {CLIENTS} clients: req/s", "reference", hello),
        *page_rows(),
        ('history page measured as "page 500"', "", page_500),
        ("history htmx partial / full page", "≤ 25 %", partial),
        ("caisse dashboard size", "", dashboard),
        ("50 clients submitting requests", "≥ 100/s, p95 ≤ 300 ms", writes),
        ("… every acknowledged one stored once", "0 errors, 0 lost", write_checks),
        ("users export CSV: total, peak memory growth", "≤ 2 s, ≤ 30 MB", export("csv")),
        ("users export XLSX: total, peak memory growth", "≤ 2 s, ≤ 30 MB", export("xlsx")),
        ("`ep housekeeping` over the whole set", "≤ 10 s", housekeeping),
        ("pages read during `ep housekeeping`", "no request waits on it", during),
    ]


def growth_table(results):
    """Each page's 16-client p95 at the largest size over the smallest, same code and engine."""
    groups = {}
    for r in results:
        code = r.get("code") or {}
        key = (code.get("commit") or code.get("path"), bool(code.get("dirty")), r.get("engine"))
        groups.setdefault(key, []).append(r)
    pairs = []
    for members in groups.values():
        sized = [r for r in members if (r.get("sizes") or {}).get("demandes") and r.get("pages")]
        if len(sized) < 2:
            continue
        sized.sort(key=lambda r: r["sizes"]["demandes"])
        small, large = sized[0], sized[-1]
        if small["sizes"]["demandes"] != large["sizes"]["demandes"]:
            pairs.append((small, large))
    if not pairs:
        return []
    lines = [
        "",
        f"p95 at {CLIENTS} clients, largest set over smallest, same code and engine "
        "(target: within 1.5×):",
        "",
        "| page | " + " | ".join(f"{s['label']} → {g['label']}" for s, g in pairs) + " |",
        "|---|" + "---|" * len(pairs),
    ]
    for key, title, *_ in PAGES:
        cells = []
        for small, large in pairs:
            a = small["pages"].get(key, {}).get(f"c{CLIENTS}", {}).get("median", {}).get("p95")
            b = large["pages"].get(key, {}).get(f"c{CLIENTS}", {}).get("median", {}).get("p95")
            if a and b:
                cells.append(f"{fmt_ms(a)} → {fmt_ms(b)} ({b / a:.2f}×){mark(b / a <= 1.5)}")
            else:
                cells.append("—")
        lines.append(f"| {title.replace('{page}', '500')} | " + " | ".join(cells) + " |")
    return lines


def schema_summary(notes):
    """The schema notes of a run, the index and trigger names counted (the JSON lists them)."""
    plural = {"index": "indexes", "trigger": "triggers"}
    counted, kept = {}, []
    for note in notes:
        verb, kind, *_ = note.split(" ") + ["", ""]
        if verb in ("dropped", "created") and kind in plural:
            what = f"{plural[kind]} {verb}"
            counted[what] = counted.get(what, 0) + 1
        elif not note.startswith("ANALYZE took"):
            kept.append(note)
    return "; ".join(kept + [f"{n} {what}" for what, n in counted.items()])


def render_section(results):
    """The generated part of BENCHMARKS.md, between the markers."""
    lines = [BEGIN, ""]
    if not results:
        lines += ["No result yet: run `python bench/run.py …` (see above).", "", END]
        return "\n".join(lines)
    m = results[-1].get("machine") or {}
    lines += [
        f"Machine: {m.get('cores')} cores ({m.get('cpu')}), {m.get('ram_gib')} GiB, Python "
        f"{m.get('python')}, waitress {m.get('waitress')}, {m.get('wrk')}. Each figure is the "
        "median of the repeats, their range in square brackets; ✓/✗: issue 11's target met or "
        "missed.",
        "",
        "| measure | target | " + " | ".join(r["label"] for r in results) + " |",
        "|---|---|" + "---|" * len(results),
    ]
    for title, target, cell in report_rows():
        lines.append(f"| {title} | {target} | " + " | ".join(cell(r) for r in results) + " |")
    lines += growth_table(results)
    errors = []
    for r in results:
        found = [
            (f"{(r.get('pages') or {})[k]['title']}", e)
            for k in (r.get("pages") or {})
            for e in [r["pages"][k].get("server_errors")]
            if e
        ]
        if (r.get("write") or {}).get("server_errors"):
            found.append(("50 writers", r["write"]["server_errors"]))
        for where, counts in found:
            for error, count in counts.items():
                errors.append(f"- {r['label']}, {where}: {count} × `{error}`")
    if errors:
        lines += ["", "Exceptions in the server's log:", "", *errors]
    lines += ["", "Configurations:", ""]
    for r in results:
        code = r.get("code") or {}
        s = r.get("settings") or {}
        serve = r.get("serve") or {}
        commit = (code.get("commit") or "?")[:9] + (
            " + uncommitted changes" if code.get("dirty") else ""
        )
        notes = schema_summary(r.get("schema_notes") or [])
        lines.append(
            f"- **{r['label']}**: code `{commit}` ({(code.get('commit_date') or '')[:10]}), "
            f"{r.get('engine_version')}, schema {r.get('schema_version')}; "
            f"`ep serve` {serve.get('threads')} threads, {serve.get('limit')} connections; "
            f"{s.get('duration_s')} s × {s.get('repeat')} per figure, writers "
            f"{s.get('write_duration_s')} s; measured {r.get('date', '')[:16].replace('T', ' ')}"
            + (f"; {notes}" if notes else "")
        )
    lines += ["", END]
    return "\n".join(lines)


def replace_section(text, section):
    """BENCHMARKS.md with the section between the markers replaced (appended if missing)."""
    start, stop = text.find(BEGIN), text.find(END)
    if start == -1 or stop == -1:
        return text.rstrip("\n") + "\n\n" + section + "\n"
    return text[:start] + section + text[stop + len(END) :]


def write_report(folder=RESULTS, target=BENCHMARKS):
    text = target.read_text() if target.exists() else "# Benchmarks\n"
    target.write_text(replace_section(text, render_section(load_results(folder))))
