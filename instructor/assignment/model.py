"""The shape of an assignment spec: plain data the pipeline reads.

An AssignmentSpec declares
- routines: what a student writes, by role (the name the checks use): a Routine
  (a function: module and name) or a Klass (a class: module, name, the
  attributes that hold its state, the methods the checks call), each with the
  file it lives in and its contract (a rule of the given contract module,
  "module:function", applied alike by the notebook's checks and the grader);
- values: the notebook values the grader reads after the run (NotebookValue:
  variable, optional attribute, kind of validation);
- cells: each auto-graded cell (Cell: grade_id, points, visible and hidden checks
  as "module:function" references, the bars they use);
- mistakes: where the known mistakes are implemented (the module with working
  wrong answers) and where their explanations live (the given catalogue);
- data: "module:function" loading the grader's own data (None: no data needed);
- depends: for each cell, the cells whose failure makes it fail too;
- the release's layout: the files copied as they are (release_extras), a folder
  whose files go into the release's root (release_data), the instructor's
  nbgrader settings (nbgrader_config), the instructor-only code whose lines must
  never reach a release (secret_code), all relative to the assignment's folder;
- given_code: what no file given to students may compute (GivenCodeRule), because
  that is what they write;
- dataset: the data set the notebook reads (DataSet: how to find its folder, the
  environment variable that names it, the release file that downloads it);
- a grader shipped to run elsewhere without the solution (the Gradescope zip): the
  instructor-only files that need the solution and stay home (solution_bound), and
  the files computed from the solution that such a grader reads instead
  (hidden_pool, e.g. a pool of hidden problem sets).

References are strings resolved on use (resolve()), so reading a spec imports
nothing of the assignment's code. load_spec(folder) loads the SPEC of
FOLDER/assignment_spec.py; current.py's spec() chooses which assignment the
tools work on.
"""
import dataclasses
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from typing import Optional

ENV_VAR = "ASSIGNMENT_DIR"
SPEC_FILE = "assignment_spec.py"
# What a notebook value may be (see instructor/boundary/results.py for each check).
VALUE_KINDS = ("fraction", "history", "weights", "labels", "pairs")


@dataclasses.dataclass(frozen=True)
class Routine:
    """A function the student writes: module.name, in file, obeying contract."""
    module: str
    name: str
    file: str
    contract: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Klass:
    """A class the student writes (or completes): the checks make objects with keyword
    arguments, set and read its state attributes and call its methods."""
    module: str
    name: str
    file: str
    state: tuple = ()
    methods: tuple = ()
    contracts: tuple = ()        # (method, "module:rule") pairs


@dataclasses.dataclass(frozen=True)
class NotebookValue:
    """A value the notebook leaves behind: `variable` (or variable.attribute), saved
    under `key` and validated as `kind` (VALUE_KINDS)."""
    key: str
    variable: str
    kind: str
    attribute: Optional[str] = None

    @property
    def expression(self):
        return f"{self.variable}.{self.attribute}" if self.attribute else self.variable


@dataclasses.dataclass(frozen=True)
class Check:
    """One check of a cell: "module:function" taking a Subject; hidden ones are run
    only by the grader and never tell their problems."""
    ref: str
    hidden: bool = False


@dataclasses.dataclass(frozen=True)
class Cell:
    grade_id: str
    points: float
    checks: tuple               # Check, visible first
    bars: tuple = ()            # (name, value) pairs the checks read through bar()


@dataclasses.dataclass(frozen=True)
class Mistakes:
    implementations: Optional[str] = None   # module of working wrong answers
    catalogue: Optional[str] = None          # given module:dict of their explanations


@dataclasses.dataclass(frozen=True)
class GivenCodeRule:
    """What no file given to students may compute, because students write it.

    The release build parses every given .py file (solution regions stripped) and
    stops at a call, a reference or an import by name of one of `names`, a call of
    one of `call_only` (names that are also modules or attributes of the package,
    so only a call, or an import from outside the package, counts), or a power of
    one of `powers_of` (`np.e ** x`). `what` says in words what they compute."""
    what: str
    names: tuple = ()
    call_only: tuple = ()
    powers_of: tuple = ()


@dataclasses.dataclass(frozen=True)
class DataSet:
    """The data set the notebook reads, read-only for kernels.

    locate: "module:function"() -> (folder, None), or (folder, why it cannot be used);
    env: the environment variable the notebook finds the folder by (set for kernels);
    fetch: a release file that downloads and checks it into its default folder (run
    when an image is built, e.g. by Gradescope's setup.sh)."""
    locate: str
    env: Optional[str] = None
    fetch: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class AssignmentSpec:
    assignment_id: str
    notebook: str
    package: str
    root: str                               # the assignment's folder
    routines: dict                          # role -> Routine | Klass
    values: tuple = ()                      # NotebookValue
    cells: tuple = ()                       # Cell, in notebook order
    mistakes: Mistakes = Mistakes()
    data: Optional[str] = None              # "module:function"(data_dir) -> the grader's data
    check_data: Optional[str] = None        # a given data file of the checks, if any
    depends: tuple = ()                     # (grade_id, (grade_ids it needs)) pairs
    student_files: tuple = ()               # files with TODO regions the student edits
    collect_script: Optional[str] = None    # the release's script that packs a hand-in
    # The release's layout, relative to root.
    nbgrader_config: str = "nbgrader_config.py"  # the instructor's nbgrader settings
    release_extras: tuple = ()              # files copied into the release as they are
    release_data: Optional[str] = None      # a folder copied into the release's root
    secret_code: tuple = ()                 # instructor-only files or folders (leak scan)
    given_code: Optional[GivenCodeRule] = None  # what no given file may compute
    # The data set the notebook reads (DataSet); None: it reads no data.
    dataset: Optional[DataSet] = None
    # A grader shipped to run elsewhere (the Gradescope zip) goes without the solution.
    # solution_bound: instructor-only files or folders (relative to root) that import the
    # solution or hold working code close to it (fingerprint generators, the known
    # mistakes); grading never needs them and they stay out of such a zip.
    solution_bound: tuple = ()
    # hidden_pool: "module:function"() -> {path: text}, files computed now from the
    # solution that such a grader's hidden checks read instead (a pool of hidden problem
    # sets); paths absolute or relative to root, inside root. None: nothing to compute.
    hidden_pool: Optional[str] = None

    def path(self, rel):
        """A path of the assignment's folder (rel is relative to root)."""
        return os.path.join(self.root, rel)

    @property
    def how_to_hand_in(self):
        """A sentence on making a hand-in zip, for messages to students."""
        how = f"the zip that {self.collect_script} makes" if self.collect_script else "a zip"
        return (f"Upload {self.notebook} together with the {self.package} folder, or {how} "
                f"({self.assignment_id}_<your id>.zip).")

    def locate_dataset(self):
        """(folder, None) or (folder, why it cannot be used) of the data set the notebook
        reads; (None, None) when it reads none."""
        if self.dataset is None:
            return None, None
        folder, problem = resolve(self.dataset.locate, self.root)()
        return os.path.abspath(folder), problem

    def dataset_env(self, folder):
        """{variable: folder}: how a kernel is told where the data set is."""
        return {self.dataset.env: folder} if self.dataset and self.dataset.env and folder else {}

    # ---- reading ---------------------------------------------------------------------------
    def cell(self, grade_id):
        for c in self.cells:
            if c.grade_id == grade_id:
                return c
        raise KeyError(f"no graded cell {grade_id!r} in the spec of {self.assignment_id}")

    @property
    def points(self):
        """{grade_id: points} of the auto-graded cells, in notebook order."""
        return {c.grade_id: c.points for c in self.cells}

    @property
    def max_points(self):
        return sum(c.points for c in self.cells)

    def bar(self, grade_id, name):
        return dict(self.cell(grade_id).bars)[name]

    def bars(self):
        """{name: value} of every cell's bars (names are unique across cells)."""
        out = {}
        for c in self.cells:
            for name, value in c.bars:
                if name in out and out[name] != value:
                    raise ValueError(f"bar {name!r} has two values in the spec")
                out[name] = value
        return out

    def value(self, key):
        for v in self.values:
            if v.key == key:
                return v
        raise KeyError(f"no notebook value {key!r} in the spec")

    def checks(self, grade_id):
        """The check functions of a cell, resolved; hidden ones carry .hidden = True."""
        found = []
        for check in self.cell(grade_id).checks:
            fn = resolve(check.ref, self.root)
            if check.hidden and not getattr(fn, "hidden", False):
                fn.hidden = True
            found.append(fn)
        return found

    def auto_tests(self):
        """{grade_id: [check functions]} in notebook order."""
        return {c.grade_id: self.checks(c.grade_id) for c in self.cells}

    def hidden_modules(self):
        """The files of the hidden checks (never shown to a student)."""
        files = set()
        for c in self.cells:
            for check in c.checks:
                if check.hidden:
                    module = resolve_module(check.ref.partition(":")[0], self.root)
                    if getattr(module, "__file__", None):
                        files.add(module.__file__)
        return sorted(files)

    def validate(self):
        """Raise ValueError for a spec that cannot work (unknown kinds, duplicates)."""
        problems = []
        ids = [c.grade_id for c in self.cells]
        if len(set(ids)) != len(ids):
            problems.append("a grade_id repeats")
        keys = [v.key for v in self.values]
        if len(set(keys)) != len(keys):
            problems.append("a notebook value key repeats")
        problems += [f"notebook value {v.key!r} has unknown kind {v.kind!r}"
                     for v in self.values if v.kind not in VALUE_KINDS]
        problems += [f"cell {c.grade_id!r} has no checks" for c in self.cells if not c.checks]
        problems += [f"cell {c.grade_id!r} has negative points" for c in self.cells
                     if c.points < 0]
        if self.dataset is not None and not isinstance(self.dataset, DataSet):
            problems.append("dataset is not a DataSet")
        problems += [f"solution_bound {p!r} is not a path inside the assignment's folder"
                     for p in self.solution_bound
                     if os.path.isabs(p) or ".." in p.replace(os.sep, "/").split("/")]
        for grade_id, needs in self.depends:
            problems += [f"{grade_id!r} depends on unknown cell {n!r}" for n in needs
                         if n not in ids]
        if problems:
            raise ValueError(f"the spec of {self.assignment_id} is invalid: "
                             + "; ".join(problems))
        return self


class _FolderFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level modules and packages of one assignment folder, and only
    those: an assignment outside this project (a test fixture, a course's own)
    imports its spec's modules, and they import each other, without the folder
    going onto sys.path, where every other import would search it too."""

    def __init__(self, root):
        self.root = root

    def find_spec(self, name, path=None, target=None):
        if path is not None or "." in name:
            return None     # submodules: found through their package's own __path__
        if not (os.path.exists(os.path.join(self.root, name + ".py"))
                or os.path.isdir(os.path.join(self.root, name))):
            return None
        return importlib.machinery.PathFinder.find_spec(name, [self.root])


_finders = {}


def _find_in(root):
    """Let imports find the top-level modules of the assignment folder root (once)."""
    root = os.path.realpath(root)
    if root not in _finders:
        _finders[root] = _FolderFinder(root)
        # First: the assignment's own modules win over installed ones of the same name.
        sys.meta_path.insert(0, _finders[root])


def resolve_module(name, root=None):
    """Import a module by dotted name; an assignment folder's own modules first."""
    if root and os.path.isdir(root):
        _find_in(root)      # the finder serves only the folder's own top-level names
    return importlib.import_module(name)


def resolve(ref, root=None):
    """The object a "module:attribute" reference names."""
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise ValueError(f"a reference is 'module:name', got {ref!r}")
    obj = resolve_module(module, root)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def load_spec(folder):
    """The SPEC of FOLDER/assignment_spec.py (loaded by path), validated."""
    path = os.path.join(folder, SPEC_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder} is not an assignment folder: it has no {SPEC_FILE}")
    name = f"_assignment_spec_{abs(hash(os.path.realpath(folder)))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    found = getattr(module, "SPEC", None)
    if not isinstance(found, AssignmentSpec):
        raise ValueError(f"{path} defines no SPEC (an AssignmentSpec)")
    return found.validate()
