"""Similar hand-ins: winnowed fingerprints of the code students wrote themselves.

What is compared is only what a student writes: the solution regions of the
package's .py files (the files of the assignment's source that hold solution
markers) and the notebook's solution code cells. Everything else is the
starter code the whole class received, and it is subtracted: every k-gram of
the starter's tokens is removed from each hand-in's fingerprints, so untouched
starters have none and can never be paired.

Each region is read with Python's own tokenizer. Comments, blank lines and
indentation are dropped, strings become one token, and every name that is not a
keyword, a builtin or an attribute becomes the same token, so renaming
variables or rewriting comments changes nothing. Hashes of k consecutive tokens
are winnowed (the smallest hash of each window of w, Schleimer, Wilkerson and
Aiken 2003): any run of k + w - 1 equal tokens is found, and the fingerprints
are a set, so reordering functions changes nothing either.

Pairs come from an inverted index (fingerprint -> hand-ins): only hand-ins that
share a fingerprint are ever compared. A fingerprint that many hand-ins share
(more than COMMON_SHARE of the class, at least COMMON_MIN) is the class's
common idiom, not a copy; it is left out of the index, which also bounds the
work per fingerprint: the cost grows with the number of hand-ins, not with its
square.
"""
import builtins
import dataclasses
import io
import json
import keyword
import math
import os
import tokenize
import zlib

from instructor.markers import MarkerError, solution_regions, strip_solutions

K = 12                  # tokens per k-gram
WINDOW = 6              # k-grams per winnowing window: runs of K + WINDOW - 1 tokens are found
COMMON_SHARE = 0.05     # a fingerprint in more than this share of the hand-ins is common ...
COMMON_MIN = 10         # ... if also in more than this many
FLAG_SIMILARITY = 0.5   # a pair is flagged at this share of the smaller hand-in's fingerprints
FLAG_SHARED = 10        # ... and at least this many fingerprints in common
MAX_BLOCKS = 8          # matching regions shown per pair

_KEEP = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENCODING, tokenize.ENDMARKER}


_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)      # Python 3.12+
_FSTRING_PARTS = {getattr(tokenize, "FSTRING_MIDDLE", -1), getattr(tokenize, "FSTRING_END", -1)}


def tokens(text):
    """[(normalized token, line)] of Python source; text that does not tokenize to the
    end gives the tokens before the error."""
    out, after_dot = [], False
    NAME, STRING = tokenize.NAME, tokenize.STRING
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = tok.type
            if kind in _SKIP or kind in _FSTRING_PARTS:
                continue
            if kind == NAME:
                value = tok.string if (after_dot or tok.string in _KEEP) else "V"
            elif kind == STRING or kind == _FSTRING_START:
                value = "S"
            else:
                value = tok.string
            after_dot = value == "."
            out.append((value, tok.start[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


_IDS = {}


def _token_id(value):
    """A number per token that is the same in every process (str hashes are not)."""
    n = _IDS.get(value)
    if n is None:
        n = _IDS[value] = zlib.crc32(value.encode("utf-8"))
    return n


def kgram_hashes(toks, k=K):
    """[(hash, first line, last line)] of every k consecutive tokens."""
    ids = [_token_id(t) for t, _ in toks]
    # A tuple of ints hashes the same in every process (no hash randomization for ints).
    return [(hash(tuple(ids[i:i + k])), toks[i][1], toks[i + k - 1][1])
            for i in range(len(toks) - k + 1)]


def winnow(hashes, w=WINDOW):
    """The fingerprints of a list of (hash, first line, last line): the smallest hash of
    every window of w (the rightmost of equal ones), each position once."""
    if len(hashes) <= w:
        return list(hashes)
    values = [h for h, _, _ in hashes]
    picked, last = [], -1
    for start in range(len(values) - w + 1):
        window = values[start:start + w]
        smallest = min(window)
        at = start + w - 1 - window[::-1].index(smallest)
        if at != last:
            last = at
            picked.append(hashes[at])
    return picked


# ---- what students write -----------------------------------------------------------------
@dataclasses.dataclass
class Layout:
    """Where students write: region name -> the starter's text. A region is a .py file
    ('pkg/model.py') or a notebook cell ('<notebook>.ipynb:<region>')."""
    notebook: str
    starters: dict


def _cell_text(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _stripped(text, name):
    try:
        return strip_solutions(text, name)[0]
    except MarkerError:
        return text


def read_layout(source_dir, notebook, package):
    """The starter code of every region students write, from the assignment's source
    (the instructor's version with solution markers, which OUT keeps in source/)."""
    starters = {}
    pkg = os.path.join(source_dir, package)
    for folder, dirs, names in os.walk(pkg):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, source_dir).replace(os.sep, "/")
            with open(path, encoding="utf-8") as f:
                text = f.read()
            try:
                regions = solution_regions(text, rel)
            except MarkerError:
                continue
            if regions:
                starters[rel] = _stripped(text, rel)
    nb_path = os.path.join(source_dir, notebook)
    if os.path.isfile(nb_path):
        with open(nb_path, encoding="utf-8") as f:
            nb = json.load(f)
        for cell in nb.get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
                name = f"{notebook}:{meta['grade_id']}"
                starters[name] = _stripped(_cell_text(cell), name)
    return Layout(notebook=notebook, starters=starters)


def read_student_code(folder, layout):
    """{region: text} of one graded hand-in's folder (OUT/autograded/<id>/<assignment>/);
    regions it lacks are missing."""
    code = {}
    cells = {}
    nb_path = os.path.join(folder, layout.notebook)
    if os.path.isfile(nb_path):
        try:
            with open(nb_path, encoding="utf-8") as f:
                nb = json.load(f)
            for cell in nb.get("cells", []):
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid and cell.get("cell_type") == "code":
                    cells[f"{layout.notebook}:{gid}"] = _cell_text(cell)
        except (OSError, ValueError, AttributeError):
            pass
    for name in layout.starters:
        if name in cells:
            code[name] = cells[name]
        elif not name.startswith(layout.notebook + ":"):
            path = os.path.join(folder, *name.split("/"))
            if os.path.isfile(path):
                try:
                    with open(path, encoding="utf-8", errors="replace") as f:
                        code[name] = f.read()
                except OSError:
                    pass
    return code


# ---- fingerprints and pairs --------------------------------------------------------------
@dataclasses.dataclass
class Prints:
    """One hand-in's fingerprints after the starter is subtracted: hash -> [(region,
    first line, last line)], and its code by region (for showing matches)."""
    where: dict
    code: dict

    @property
    def size(self):
        return len(self.where)


def starter_hashes(layout, k=K):
    """Every k-gram hash of the starter code (not only the winnowed ones)."""
    return {h for text in layout.starters.values() for h, _, _ in kgram_hashes(tokens(text), k)}


def fingerprint(code, starter, k=K, w=WINDOW):
    """Prints of one hand-in's {region: text}, without the starter's k-grams."""
    where = {}
    for region in sorted(code):
        for h, first, last in winnow(kgram_hashes(tokens(code[region]), k), w):
            if h not in starter:
                where.setdefault(h, []).append((region, first, last))
    return Prints(where=where, code=code)


@dataclasses.dataclass
class Pair:
    a: str
    b: str
    similarity: float          # shared fingerprints / fingerprints of the smaller hand-in
    shared: int
    size_a: int
    size_b: int
    blocks: list               # matching regions: dicts with region/lines/text of a and b


def common_cut(n):
    """Fingerprints shared by more than this many of n hand-ins are the class's common code."""
    return max(COMMON_MIN, math.ceil(COMMON_SHARE * n))


def similar_pairs(prints, flag=FLAG_SIMILARITY, min_shared=FLAG_SHARED):
    """The flagged pairs among {student: Prints}, most similar first; and the number of
    fingerprints left out as common."""
    index = {}
    for sid in sorted(prints):
        for h in prints[sid].where:
            index.setdefault(h, []).append(sid)
    cut = common_cut(len(prints))
    counts, common = {}, 0
    for h, sids in index.items():
        if len(sids) > cut:
            common += 1
            continue
        for i in range(len(sids)):
            for j in range(i + 1, len(sids)):
                key = (sids[i], sids[j])
                counts[key] = counts.get(key, 0) + 1
    pairs = []
    for (a, b), shared in counts.items():
        smaller = min(prints[a].size, prints[b].size)
        sim = shared / smaller if smaller else 0.0
        if shared >= min_shared and sim >= flag:
            pairs.append(Pair(a, b, round(sim, 3), shared, prints[a].size, prints[b].size,
                              _blocks(prints[a], prints[b], index, cut)))
    pairs.sort(key=lambda p: (-p.similarity, -p.shared, p.a, p.b))
    return pairs, common


def _blocks(pa, pb, index, cut):
    """The matching regions of two hand-ins: runs of shared fingerprints that stay in
    one region on each side and close together, as line ranges with their text."""
    matches = []
    for h, locs_a in pa.where.items():
        if h in pb.where and len(index.get(h, ())) <= cut:
            for la in locs_a[:1]:
                for lb in pb.where[h][:1]:
                    matches.append((la, lb))
    matches.sort()
    blocks = []
    for (ra, a0, a1), (rb, b0, b1) in matches:
        if blocks:
            cur = blocks[-1]
            if (cur["region_a"] == ra and cur["region_b"] == rb and a0 <= cur["a"][1] + 2
                    and cur["b"][0] - 2 <= b0 <= cur["b"][1] + 2):
                cur["a"][1] = max(cur["a"][1], a1)
                cur["b"] = [min(cur["b"][0], b0), max(cur["b"][1], b1)]
                cur["n"] += 1
                continue
        blocks.append({"region_a": ra, "a": [a0, a1], "region_b": rb, "b": [b0, b1], "n": 1})
    blocks.sort(key=lambda bl: -bl["n"])
    out = []
    for bl in blocks[:MAX_BLOCKS]:
        out.append({"region_a": bl["region_a"], "lines_a": bl["a"],
                    "text_a": _lines(pa.code.get(bl["region_a"], ""), *bl["a"]),
                    "region_b": bl["region_b"], "lines_b": bl["b"],
                    "text_b": _lines(pb.code.get(bl["region_b"], ""), *bl["b"]),
                    "fingerprints": bl["n"]})
    return out


def _lines(text, first, last):
    return "\n".join(text.splitlines()[first - 1:last])


def compare(students, layout):
    """Flagged pairs among {student: {region: text}} with layout's starter subtracted;
    (pairs, {student: fingerprints kept}, fingerprints left out as common)."""
    starter = starter_hashes(layout)
    prints = {sid: fingerprint(code, starter) for sid, code in students.items()}
    pairs, common = similar_pairs(prints)
    return pairs, {sid: p.size for sid, p in prints.items()}, common
