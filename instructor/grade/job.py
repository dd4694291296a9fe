"""The contract between a grading batch and the grading of one hand-in.

    Job + Bundle  --grade_one()-->  Result

A Job carries only what a worker needs for one hand-in: the zip's bytes, who
handed it in, the limits and the options. A Bundle is the assignment as the
grader needs it (the nbgrader course template with the release and its
gradebook, the grade cells, the data set), prepared once per batch on the
machine that grades. A Result carries everything the batch writes: the score,
status and message of every test, the notes, the autograded notebook and files,
the feedback page and the log.

All three are dataclasses, and to_json()/from_json() below are the one place
where they are serialized: JSON, with bytes as {"base64": "..."}, so that a job
can travel to a worker on another machine and its result back.
"""
import base64
import dataclasses
import json
import typing
from dataclasses import dataclass, field

from instructor.handin.unpack import UnpackLimits

# Result.status: graded, graded-with-problems (something repaired, a limit hit),
# not-graded (the hand-in is unusable: the notes say why), grader-error (our fault).
GRADED, WITH_PROBLEMS, NOT_GRADED, GRADER_ERROR = (
    "graded", "graded-with-problems", "not-graded", "grader-error")


def _limit(default, flag=None, help="", size=False, minimum=None):
    """A field of Limits; flag: its command-line option (None: not an option)."""
    return field(default=default, metadata={"flag": flag, "help": help, "size": size,
                                            "min": minimum})


@dataclass
class Limits:
    """What one hand-in may use; sizes in bytes, times in seconds. The one place of
    every limit's default: the command-line options and their help are made from
    these fields (add_limit_options), and the kernel's and the trusted worker's
    boxes read the same object (sandbox/box.py)."""
    cell_timeout: int = _limit(300, "--cell-timeout", "seconds per cell", minimum=1)
    timeout: int = _limit(1800, "--timeout", "seconds per hand-in", minimum=10)
    memory: int = _limit(4 << 30, "--memory", "address space of the kernel and of the "
                         "trusted worker", size=True, minimum=256 << 20)
    max_output: int = _limit(1 << 20, "--max-output", "output kept per cell, errors and "
                             "display updates included", size=True, minimum=1 << 10)
    max_output_total: int = _limit(4 << 20, "--max-output-total",
                                   "output kept for the whole notebook", size=True,
                                   minimum=1 << 10)
    max_file_write: int = _limit(100 << 20, "--max-file-write",
                                 "largest file a hand-in may write", size=True,
                                 minimum=1 << 20)
    max_handin: int = _limit(50 << 20, "--max-handin", "largest zip", size=True,
                             minimum=1 << 10)
    max_unpacked: int = _limit(200 << 20, "--max-unpacked",
                               "most bytes taken out of a zip, in total", size=True,
                               minimum=1 << 10)
    max_file: int = _limit(100 << 20, "--max-unpacked-file",
                           "most bytes of one file taken out of a zip", size=True,
                           minimum=1 << 10)
    max_entries: int = _limit(5000)   # entries in the zip
    processes: int = _limit(64, "--max-processes", "processes and threads of a hand-in's "
                            "kernel, and of its trusted worker, in total (the kernel alone "
                            "runs a dozen threads)", minimum=16)
    disk: int = _limit(200 << 20, "--max-disk", "disk a hand-in may fill: its folder, /tmp "
                       "and /dev/shm in total", size=True, minimum=16 << 20)
    call_timeout: int = _limit(120, "--call-timeout", "seconds of wall time per call of "
                               "the trusted checks into a hand-in's code", minimum=1)
    trusted_budget: int = _limit(900, "--trusted-budget", "seconds of wall time for all "
                                 "calls of the trusted checks into one hand-in's code; past "
                                 "it the remaining checks fail as too slow and the grade is "
                                 "final", minimum=1)
    grader_memory: int = _limit(2 << 30, "--grader-memory", "address space of the grader's "
                                "own process for each hand-in", size=True, minimum=512 << 20)

    def unpack(self):
        return UnpackLimits(max_handin=self.max_handin, max_unpacked=self.max_unpacked,
                            max_file=self.max_file, max_entries=self.max_entries)


def _size_text(n):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def add_limit_options(parser, names=None):
    """Add an option for each Limits field with a flag (or only those in names), its
    help and default taken from the field."""
    from instructor.sandbox.limits import parse_size
    for f in dataclasses.fields(Limits):
        meta = f.metadata
        if not meta.get("flag") or (names is not None and f.name not in names):
            continue
        default = _size_text(f.default) if meta["size"] else f.default
        parser.add_argument(meta["flag"], dest=f"limit_{f.name}", default=f.default,
                            type=parse_size if meta["size"] else int,
                            metavar="SIZE" if meta["size"] else "N",
                            help=f"{meta['help']} (default: {default})")


def limits_from_args(args):
    """(Limits from the options add_limit_options made, None) or (None, error message)."""
    values, bad = {}, []
    for f in dataclasses.fields(Limits):
        if hasattr(args, f"limit_{f.name}"):
            value = getattr(args, f"limit_{f.name}")
            if f.metadata["min"] is not None and value < f.metadata["min"]:
                low = f.metadata["min"]
                bad.append(f"{f.metadata['flag']} must be at least "
                           f"{_size_text(low) if f.metadata['size'] else low}")
            values[f.name] = value
    if bad:
        return None, "; ".join(bad)
    return Limits(**values), None


@dataclass
class Options:
    sandbox: str = "namespaces"       # the tier: namespaces, uid or none (sandbox/box.py)
    threads: int = 1                  # BLAS threads of the kernel


@dataclass
class Job:
    """One hand-in to grade."""
    student_id: str
    handin_name: str                  # the zip's file name, for the CSV
    handin: bytes                     # the zip itself
    sha256: str
    mtime: float                      # when it was handed in (seconds since the epoch)
    limits: Limits = field(default_factory=Limits)
    options: Options = field(default_factory=Options)
    notes: list[str] = field(default_factory=list)   # remarks from the batch (two zips, ...)


@dataclass
class GradeCell:
    """A graded cell of the notebook: a test ('auto') or an answer graded by hand ('manual')."""
    grade_id: str
    points: float
    kind: str


@dataclass
class Bundle:
    """The assignment, prepared once per batch, as paths on the grading machine."""
    template: str                     # nbgrader course: gradebook.db, release/<assignment>/
    fingerprint: str                  # of the assignment; grades of two versions never mix
    student_files: list[str]          # the .py files students edit
    cells: list[GradeCell]
    data_dir: str                     # the data set, read-only for kernels
    work: str                         # where workers make their folders
    mpl_cache: str = ""               # matplotlib's font cache, copied for each kernel
    hide: list[str] = field(default_factory=list)   # what boxed code must never read

    @property
    def auto_max(self):
        return sum(c.points for c in self.cells if c.kind == "auto")

    @property
    def manual_max(self):
        return sum(c.points for c in self.cells if c.kind == "manual")


@dataclass
class TestScore:
    """The verdict on one test cell."""
    name: str                         # its grade_id
    points: float
    max: float
    status: str                       # passed, failed, not-run
    message: str = ""                 # why it failed, for the student


@dataclass
class ManualAnswer:
    name: str
    max: float
    answered: bool                    # False: nothing written, 0 points without a human


@dataclass
class Result:
    """Everything the batch writes about one hand-in."""
    student_id: str
    handin_name: str
    sha256: str
    mtime: float
    fingerprint: str
    status: str = NOT_GRADED
    tests: list[TestScore] = field(default_factory=list)
    manual: list[ManualAnswer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)   # what the execution step recorded
    autograded: dict[str, bytes] = field(default_factory=dict)  # the graded notebook and files
    feedback_html: str = ""
    log: str = ""
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)      # seconds per grading phase

    @property
    def scores(self):
        """{test name: points}."""
        return {t.name: t.points for t in self.tests}

    def summary(self):
        """The result without its files (the batch writes those as files of their own)."""
        data = _encode(self)
        for key in ("autograded", "feedback_html", "log"):
            data.pop(key)
        return data


def _encode(value):
    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(kind, data):
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{k: _decode(hints[k], v) for k, v in data.items() if k in hints})
    if kind is bytes:
        return base64.b64decode(data["base64"])
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is list and args:
        return [_decode(args[0], v) for v in data]
    if origin is dict and len(args) == 2:
        return {k: _decode(args[1], v) for k, v in data.items()}
    return data


def to_json(obj):
    """A Job, Bundle or Result (any of these dataclasses) as JSON text."""
    return json.dumps(_encode(obj), sort_keys=True)


def from_json(kind, text):
    """The inverse of to_json: from_json(Result, text) -> Result."""
    return _decode(kind, json.loads(text))
