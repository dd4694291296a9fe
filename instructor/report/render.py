"""OUT/report.html from the class facts (build.class_facts): one inert, printable page.

Inert like the feedback pages: every text is escaped (student ids, messages and
code are the students'), the only image is the histogram as a data: PNG, and
the page's Content-Security-Policy forbids scripts, remote loads, frames and
forms. Links go to the feedback pages beside it in OUT.
"""
import base64
import html
import io
import urllib.parse

from instructor.feedback.page import CSP

STYLE = """
body { font-family: sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.25em 0.7em; text-align: left; vertical-align: top; border-bottom: 1px solid #eee; }
td.num, th.num { text-align: right; }
pre { background: #f6f6f6; padding: 0.4em; margin: 0.2em 0; white-space: pre-wrap; font-size: 0.85em; }
.bar { display: inline-block; height: 0.8em; background: #4a7; vertical-align: middle; }
.barbg { display: inline-block; width: 8em; background: #eee; margin-right: 0.5em; }
.muted { color: #666; } .ids a { margin-right: 0.5em; }
.pair { border: 1px solid #ddd; padding: 0.5em 1em; margin: 1em 0; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.warn { background: #ffd; padding: 0.5em 1em; }
nav a { margin-right: 1em; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  .pair, tr, .mistake { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""

e = html.escape
# How the isolation of a hand-in is named on the page (others are shown as recorded).
TIERS = {"namespaces": "namespaces (the bubblewrap allow-list jail)",
         "uid": "uid (a dedicated uid, the instructor's files unreadable, no network)",
         "bwrap": "bwrap (the allow-list jail)",
         "none": "none (graded WITHOUT a sandbox: --sandbox none)"}


def _link(sid):
    href = "feedback/" + urllib.parse.quote(sid, safe="") + "/" + "{assignment}.html"
    return href


def _ids(ids, assignment):
    return '<span class="ids">' + " ".join(
        f'<a href="{e(_link(s).format(assignment=assignment))}">{e(s)}</a>' for s in ids) + "</span>"


def _pct(x):
    return "" if x is None else f"{100 * x:.0f}%"


def histogram_png(facts):
    """The histogram of the automatic scores of graded hand-ins, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    s = facts["scores"]
    points = [float(k) for k, n in s["counts"].items() for _ in range(n)]
    fig = Figure(figsize=(6.4, 2.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    top = float(s["max"] or 1)
    bins = [x - 0.5 for x in range(int(top) + 2)]
    ax.hist(points, bins=bins, color="#4a7", edgecolor="white")
    if s["mean"] is not None:
        ax.axvline(s["mean"], color="#c22", linestyle="--", label=f"mean {s['mean']:g}")
        ax.axvline(s["median"], color="#225", linestyle=":", label=f"median {s['median']:g}")
        ax.legend(loc="upper left", frameon=False)
    ax.set_xlim(-0.5, top + 0.5)
    ax.set_xlabel(f"automatic score (of {top:g})")
    ax.set_ylabel("hand-ins")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def render_report(facts):
    """The report page (HTML text) for facts from build.class_facts."""
    a = facts["assignment"]
    b, s = facts["batch"], facts["scores"]
    parts = [f"<h1>{e(a)}: class report</h1>",
             f'<p class="muted">Built {e(facts["generated"])} from the grading results in this '
             "folder. Student ids link to the feedback page each student received.</p>",
             '<nav><a href="#batch">batch</a><a href="#scores">scores</a><a href="#cells">cells</a>'
             '<a href="#mistakes">named mistakes</a><a href="#knockon">knock-on failures</a>'
             '<a href="#similar">similar hand-ins</a><a href="#canvas">Canvas</a>'
             '<a href="#students">students</a></nav>']

    # ---- the batch
    per = b["seconds_per_handin"]
    tiers = ", ".join(f"{e(TIERS.get(k, k))}: {n}" for k, n in sorted(b["isolation"].items())) \
        or "no hand-in graded"
    wall = f"; the last grading run took {b['wall_seconds']:.0f} s" if b.get("wall_seconds") else ""
    rows = [("hand-ins", b["handins"]), ("graded", b["graded"]),
            ("graded with problems", len(b["with_problems"])),
            ("not graded", len(b["not_graded"])),
            ("on the roster, no hand-in", len(b["missing"])),
            ("isolation (graded hand-ins)", tiers),
            ("grading time", f"{b['seconds_total']:.0f} s in total over the hand-ins{wall}"),
            ("per hand-in", "" if per["mean"] is None else
             f"mean {per['mean']:g} s, median {per['median']:g} s, longest {per['max']:g} s")]
    parts.append('<h2 id="batch">The batch</h2><table>' + "".join(
        f"<tr><th>{e(k)}</th><td>{v if k.startswith('isolation') else e(str(v))}</td></tr>"
        for k, v in rows) + "</table>")
    if b["with_problems"]:
        parts.append(f"<p>Graded with problems (see their notes): {_ids(b['with_problems'], a)}</p>")
    if b["not_graded"]:
        items = "".join(
            f"<tr><td>{_ids([g['student']], a) if g['student'] else '<span class=muted>(no id)</span>'}</td>"
            f"<td>{e(g['handin'])}</td><td>{e(g['status'] or '')}</td>"
            f"<td>{e('; '.join(g['why'][:3]))}</td></tr>" for g in b["not_graded"])
        parts.append("<h3>Not graded, and why</h3><table><tr><th>student</th><th>hand-in</th>"
                     f"<th>status</th><th>why</th></tr>{items}</table>")
    if b["missing"]:
        parts.append(f"<p>On the roster without a hand-in: {e(', '.join(b['missing']))}</p>")

    # ---- scores
    parts.append('<h2 id="scores">Automatic scores</h2>')
    if s["graded"]:
        png = base64.b64encode(histogram_png(facts)).decode("ascii")
        parts.append(f'<img alt="histogram of the automatic scores" width="640" height="280" '
                     f'src="data:image/png;base64,{png}">')
        parts.append(f"<p>{s['graded']} graded hand-ins: mean <strong>{s['mean']:g}</strong>, "
                     f"median <strong>{s['median']:g}</strong> of {s['max']:g} points "
                     "(inline answers, graded by hand, not included).</p>")
    else:
        parts.append("<p>No hand-in was graded.</p>")

    # ---- cells
    rows = []
    for c in facts["cells"]:
        rate = c["pass_rate"] or 0
        reasons = "".join(
            f"<li>{r['count']} &times; {e(r['reason'])}</li>" for r in c["reasons"][:3])
        more = len(c["reasons"]) - 3
        if more > 0:
            reasons += f'<li class="muted">{more} other reason(s)</li>'
        knock = (f"{len(c['knock_on'])}" if c["knock_on"] else "")
        rows.append(f"<tr><td>{e(c['name'])}</td><td class=num>{c['max']:g}</td>"
                    f'<td><span class="barbg"><span class="bar" style="width:{100 * rate:.0f}%">'
                    f"</span></span>{_pct(c['pass_rate'])} ({c['passed']}/{c['graded']})</td>"
                    f"<td class=num>{knock}</td><td><ul>{reasons}</ul></td></tr>")
    parts.append('<h2 id="cells">Each graded cell</h2><table><tr><th>cell</th><th class=num>points</th>'
                 "<th>passed</th><th class=num>knock-on</th><th>most common reasons for failing</th>"
                 f"</tr>{''.join(rows)}</table>")

    # ---- named mistakes
    parts.append('<h2 id="mistakes">Named mistakes</h2>')
    if facts["mistakes"]:
        parts.append("<p>The mistakes the checks recognised, most frequent first, with the "
                     "explanation the students read on their feedback page.</p>")
        for m in facts["mistakes"]:
            parts.append(f'<div class="mistake"><h3>{e(m["id"])}: {m["count"]} hand-in(s)</h3>'
                         f"<p>In {e(', '.join(m['cells']))}: {_ids(m['students'], a)}</p>"
                         f"<pre>{e(m['message'] or m['explanation'])}</pre></div>")
    else:
        parts.append("<p>No named mistake was found.</p>")

    # ---- knock-on
    parts.append('<h2 id="knockon">Knock-on failures</h2>')
    if facts["knock_on"]:
        groups = {}
        for k in facts["knock_on"]:
            groups.setdefault((k["cell"], tuple(k["because"])), []).append(k["student"])
        parts.append("<p>Failures that an earlier failure of the same hand-in most likely "
                     "explains (the feedback page says so too): fix the earlier one first.</p><ul>")
        for (cell, because), ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            parts.append(f"<li><strong>{e(cell)}</strong> after {e(' and '.join(because))} "
                         f"failed: {len(ids)} hand-in(s): {_ids(ids, a)}</li>")
        parts.append("</ul>")
    else:
        parts.append("<p>None.</p>")

    # ---- similar hand-ins
    sim = facts["similarity"]
    parts.append('<h2 id="similar">Similar hand-ins</h2>'
                 f"<p class=muted>Compared: the code students wrote (the solution regions of the "
                 f".py files and the notebook's solution cells), as {e(sim['method'])}; names, "
                 "comments and the order of functions do not count. A pair is listed when it "
                 f"shares at least {100 * sim['flag_at']:.0f}% of the smaller hand-in's "
                 f"fingerprints and at least {sim['min_shared']} of them; fingerprints shared by "
                 f"more than {sim['common_cut']} hand-ins count as common code "
                 f"({sim['common_fingerprints']} left out). A similar pair is a reason to look, "
                 "not a verdict.</p>")
    if sim.get("skipped"):
        parts.append(f'<p class="warn">Not compared: {e(sim["skipped"])}.</p>')
    elif not sim["pairs"]:
        parts.append("<p>No pair of hand-ins is unusually similar.</p>")
    for p in sim["pairs"]:
        blocks = "".join(
            f'<div class="side"><div><p class=muted>{e(p["a"])}: {e(bl["region_a"])}, lines '
            f'{bl["lines_a"][0]}-{bl["lines_a"][1]}</p><pre>{e(bl["text_a"])}</pre></div>'
            f'<div><p class=muted>{e(p["b"])}: {e(bl["region_b"])}, lines '
            f'{bl["lines_b"][0]}-{bl["lines_b"][1]}</p><pre>{e(bl["text_b"])}</pre></div></div>'
            for bl in p["blocks"])
        parts.append(f'<div class="pair"><h3>{_ids([p["a"]], a)} and {_ids([p["b"]], a)}: '
                     f"{100 * p['similarity']:.0f}% similar</h3><p>{p['shared']} fingerprints in "
                     f"common, of {p['fingerprints_a']} and {p['fingerprints_b']}.</p>{blocks}</div>")

    # ---- Canvas
    cv = facts["canvas"]
    parts.append(f'<h2 id="canvas">Canvas</h2><p><a href="canvas.csv">canvas.csv</a>: '
                 f"{cv['rows']} row(s), column <code>{e(cv['column'])}</code>, "
                 + ("matched with the roster." if cv["roster"] else
                    "without a roster (the student id is the SIS Login ID).") + "</p>")
    if cv["unmatched"]:
        parts.append(f'<p class="warn">Hand-ins matching no roster row (left out of canvas.csv): '
                     f"{_ids(cv['unmatched'], a)}</p>")
    if cv["manual_missing"]:
        parts.append(f"<p>{len(cv['manual_missing'])} graded hand-in(s) have inline answers not "
                     "graded yet: their Canvas score is the automatic part only.</p>")

    # ---- students
    rows = "".join(
        f"<tr><td>{_ids([sid], a)}</td><td>{e(v['status'] or '')}</td>"
        f"<td class=num>{v['total']:g} / {v['max']:g}</td><td>{e(', '.join(v['mistakes']))}</td>"
        f"<td>{e(', '.join(v['flags']))}</td></tr>" for sid, v in sorted(facts["students"].items()))
    parts.append('<h2 id="students">Students</h2><table><tr><th>student</th><th>status</th>'
                 "<th class=num>automatic</th><th>named mistakes</th><th>flags</th></tr>"
                 f"{rows}</table>")

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(a)}: class report</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
