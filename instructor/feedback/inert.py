"""Student content made inert: nothing a hand-in wrote can run in a page.

A graded notebook is shown to people in two places: the student's feedback page
(page.py renders it) and Formgrader, where the instructor opens the stored
graded notebook. Both render markdown and rich outputs as HTML, so a hand-in
could put <script>, <img onerror=...>, an SVG with script, a javascript: link
or a widget into them. make_inert(nb) rewrites a notebook so that whatever
renders it shows text and pictures only:

- outputs keep text/plain and image/png (checked to be base64 of a PNG); every
  other type (text/html, text/markdown, text/latex, image/svg+xml, javascript,
  widget views, ...) is dropped, with a line saying so; streams and errors stay
  (they are text); output metadata is dropped;
- markdown and raw cells: `<` is escaped (no raw HTML), and script-like link
  schemes (javascript:, vbscript:, data:) are broken;
- attachments keep only valid PNG images;
- the notebook's widget state is dropped;
- whatever is malformed (display data that is not a mime bundle, text/plain that is a
  dict, metadata that is not an object) becomes text or a placeholder, never an error.
"""
import base64
import binascii
import re

KEPT_MIMES = ("text/plain", "image/png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_SCHEMES = re.compile(r"(?i)\b(javascript|vbscript|data)(\s*):")
_DEFINITION = re.compile(r"(?m)^( {0,3}\[[^\]\n]+\]):")


def valid_png(value):
    """True if value is base64 text of a PNG image."""
    if not isinstance(value, str):
        return False
    try:
        raw = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(PNG_MAGIC)


def inert_markdown(text):
    """Markdown source without raw HTML and without links (it still reads the same).

    Markdown decodes entities and backslash escapes inside a link's target, so a
    broken scheme (java&#115;cript:) would come back to life: links and link
    definitions are turned into plain text instead, and `<` is escaped, which also
    ends raw HTML and <autolinks>."""
    text = text.replace("<", "&lt;")
    text = text.replace("](", "]\\(")
    text = _DEFINITION.sub(lambda m: m.group(1) + "\\:", text)
    return _SCHEMES.sub(lambda m: f"{m.group(1)}{m.group(2)}&#58;", text)


def inert_output(out):
    """The output with only harmless content, or None to drop it."""
    kind = out.get("output_type")
    if kind == "stream":
        return {"output_type": "stream", "name": out.get("name") if out.get("name") in
                ("stdout", "stderr") else "stdout", "text": _text(out.get("text", ""))}
    if kind == "error":
        return {"output_type": "error", "ename": _text(out.get("ename", "")),
                "evalue": _text(out.get("evalue", "")),
                "traceback": [_text(t) for t in (out.get("traceback") if isinstance(
                    out.get("traceback"), list) else []) if isinstance(t, str)]}
    if kind not in ("execute_result", "display_data", "update_display_data"):
        return None
    data = out.get("data") or {}
    if not isinstance(data, dict):
        return {"output_type": "display_data", "metadata": {},
                "data": {"text/plain": "[an output that is not a mime bundle, removed by the "
                                       "grader]"}}
    kept = {}
    if "text/plain" in data:
        kept["text/plain"] = _text(data["text/plain"])
    if valid_png(data.get("image/png")):
        kept["image/png"] = data["image/png"]
    dropped = sorted(m for m in data if m not in kept)
    if dropped and "text/plain" not in kept:
        kept["text/plain"] = f"[{', '.join(dropped)} output removed by the grader]"
    if not kept:
        return None
    clean = {"output_type": "execute_result" if kind == "execute_result" else "display_data",
             "data": kept, "metadata": {}}
    if kind == "execute_result":
        count = out.get("execution_count")
        clean["execution_count"] = count if type(count) is int and count >= 0 else None
    return clean


def _text(value):
    if isinstance(value, list):
        value = "".join(str(v) for v in value)
    try:
        return str(value)
    except Exception:   # nested too deep to print
        return f"[{type(value).__name__} removed by the grader]"


def make_inert(nb):
    """Rewrite nb (a notebook as a dict or NotebookNode) in place; returns it."""
    from nbformat import from_dict
    meta = nb.get("metadata")
    if isinstance(meta, dict):
        meta.pop("widgets", None)
    else:
        nb["metadata"] = {}
    cells = nb.get("cells")
    nb["cells"] = cells = [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []
    for cell in cells:
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
        kind = cell.get("cell_type")
        source = _text(cell.get("source", ""))
        if kind in ("markdown", "raw"):
            cell["source"] = inert_markdown(source)
            if kind == "raw":   # a raw cell may ask to be passed to HTML verbatim
                cell["metadata"].pop("format", None)
                cell["metadata"].pop("raw_mimetype", None)
        if "attachments" in cell:
            kept = {}
            attachments = cell.get("attachments")
            for name, bundle in (attachments if isinstance(attachments, dict) else {}).items():
                if isinstance(bundle, dict) and valid_png(bundle.get("image/png")):
                    kept[str(name)] = {"image/png": bundle["image/png"]}
            cell["attachments"] = kept
        cell["metadata"].pop("widgets", None)
        if kind == "code":
            outputs = cell.get("outputs")
            outputs = [inert_output(o) for o in (outputs if isinstance(outputs, list) else [])
                       if isinstance(o, dict)]
            cell["outputs"] = [from_dict(o) for o in outputs if o is not None]
    return nb
