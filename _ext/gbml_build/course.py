"""What an instructor sets for one offering of a problem set (:mod:`gbml_build.problem_set`).

:class:`Settings` (title, due date, points, seed, course-local folders), read with the exercises from a
YAML spec file by :func:`read_spec` (its keys: ``chapters/instructors.md``); :func:`seeded` and
:func:`glued`: the code and the glued numbers for an offering's seed; :func:`write_course_template`: an
nbgrader course folder whose feedback typesets math offline.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from myst_nb.core.variables import format_plain_text

from .booktoc import ROOT
from .feedback import FEEDBACK_TEMPLATE


class SpecError(ValueError):
    """A problem set's settings that cannot be used (the message names the setting and what is accepted)."""


@dataclass
class Settings:
    """One offering's settings; every field is optional."""

    title: str = ""                             # default "Problem set NAME"
    due: str = ""                               # shown under the title, as written
    points: dict = field(default_factory=dict)  # label -> points; default the exercise's minutes
    seed: int | None = None                     # None: the book's numbers
    local: tuple = ()                           # folders of course-local exercises


def check_seed(seed, where: str = "SEED") -> int | None:
    if seed is None or seed == "":
        return None
    if isinstance(seed, bool) or not re.fullmatch(r"\d{1,9}", str(seed)):
        raise SpecError(f"{where}={seed!r} is not a seed: give a whole number from 0 to 999999999 (e.g. SEED=7)")
    return int(seed)


def read_spec(path: Path) -> tuple[list[str], Settings]:
    """The exercise labels, in order, and the settings of the spec file ``path``."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"SPEC={str(path)!r}: no such file (a YAML file: title, due, exercises, ...)")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SpecError(f"SPEC={path}: not valid YAML: {err}") from None
    allowed = ("title", "due", "seed", "local", "exercises")
    if not isinstance(spec, dict) or set(spec) - set(allowed):
        extra = sorted(set(spec) - set(allowed)) if isinstance(spec, dict) else "not a mapping"
        raise SpecError(f"SPEC={path}: unknown setting(s) {extra}; the settings are {', '.join(allowed)}")
    entries = spec.get("exercises")
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"SPEC={path}: 'exercises' must be a list of labels, each optionally with its points "
                        "('- ex-lr-code: 10' or '- ex-lr-code')")
    labels, points = [], {}
    for entry in entries:
        label, value = (entry, None) if isinstance(entry, str) else \
            next(iter(entry.items())) if isinstance(entry, dict) and len(entry) == 1 else (None, None)
        if not isinstance(label, str):
            raise SpecError(f"SPEC={path}: exercises: {entry!r} is not '- label' or '- label: points'")
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1000:
                raise SpecError(f"SPEC={path}: exercises: {label}: points must be a number above 0 (at most "
                                f"1000), got {value!r}")
            points[label] = value
        labels.append(label)
    for key in ("title", "due"):
        if not isinstance(spec.get(key, ""), (str, int, float)):
            raise SpecError(f"SPEC={path}: '{key}' must be one line of text")
    local = spec.get("local") or []
    if isinstance(local, str):
        local = [local]
    folders = tuple((path.parent / str(folder)).resolve() for folder in local)
    return labels, Settings(str(spec.get("title", "")), str(spec.get("due", "")), points,
                            check_seed(spec.get("seed"), f"SPEC={path}: seed"), folders)


# -- per-offering variants: SEED ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _rng_arguments() -> dict[str, int]:
    """name -> position of the argument ``rng`` of every function, class and method of gbml that takes
    one (``Problem(d, k, rng)``, ``problem.sample_heads(n, rng)``, ...), and NumPy's ``default_rng``."""
    import gbml

    found, positional = {"default_rng": 0}, (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    modules = [gbml, *(m for m in vars(gbml).values() if inspect.ismodule(m) and m.__name__.startswith("gbml"))]
    for obj in {o for m in modules for o in vars(m).values() if inspect.isfunction(o) or inspect.isclass(o)}:
        methods = [(f, 1) for f in vars(obj).values() if inspect.isfunction(f)] if inspect.isclass(obj) else []
        for fn, bound in [(obj, 0), *methods]:
            with contextlib.suppress(TypeError, ValueError):
                names = [n for n, p in inspect.signature(fn).parameters.items() if p.kind in positional]
                if "rng" in names:
                    found[fn.__name__] = names.index("rng") - bound
    return found


def _draw(number: int, seed: int) -> int:
    """The seed that replaces ``number`` in the offering ``seed`` (NumPy's seed sequence of both)."""
    return int(np.random.SeedSequence([number, seed]).generate_state(1)[0])


def seeded(code: str, seed: int | None) -> str:
    """``code`` for the offering ``seed`` (None: unchanged): every seed written as a number
    (``default_rng(2004)``, the argument ``rng`` of gbml's routines) is replaced by one drawn from it and
    ``seed``; a check ``exercises.check_x(fn)`` draws its cases from ``seed``."""
    if seed is None:
        return code
    lines = code.splitlines(keepends=True)
    try:  # IPython's magics as comments of the same length, so that positions stay
        tree = ast.parse("".join("#" + line[1:] if line[:1] in "%!" else line for line in lines))
    except SyntaxError:
        return code
    where, positions = [], _rng_arguments()
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = getattr(call.func, "attr", getattr(call.func, "id", ""))
        args = [k.value for k in call.keywords if k.arg == "rng"]
        if name in positions and len(call.args) > positions[name]:
            args.append(call.args[positions[name]])
        where += [a for a in args if isinstance(a, ast.Constant) and type(a.value) is int]
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for node in sorted(where, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        begin, end = offsets[node.lineno - 1] + node.col_offset, offsets[node.end_lineno - 1] + node.end_col_offset
        code = code[:begin] + str(_draw(node.value, seed)) + code[end:]
    body = tree.body
    if len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Call) \
            and getattr(body[0].value.func, "attr", "").startswith("check_") \
            and not any(k.arg == "rng" for k in body[0].value.keywords):
        call = body[0].value
        call.keywords.append(ast.keyword("rng", ast.Constant(seed)))
        return ast.unparse(body[0]) + (";" if code.rstrip().endswith(";") else "")
    return code


_GLUE = re.compile(r"\{glue(?::\w*)?\}`([^`]+?)(?::([^`:]*))?`")

#: The first cell of a seeded key records what the chapters glue (they call ``gbml.book.glue``, which
#: records nothing outside the book's build); the last prints it.  Both are removed after the run.
GLUE_PROBE = ("import gbml.book as _book\n_glued = {}\n"
              "def _record(name, value, display=False):\n"
              "    _glued[name] = repr(value.item() if getattr(value, 'ndim', None) == 0 else value)\n"
              "_book.glue = _record")
GLUE_DUMP = "import json\nprint(json.dumps(_glued))"


def glue_roles(text: str) -> list[tuple[str, str]]:
    """``(name, format)`` of every ``{glue:text}`name:.3f``` role of MyST ``text``."""
    return [(name, spec or "") for name, spec in _GLUE.findall(text)]


def glued(text: str, roles, book: dict, now: dict) -> str:
    """``text`` (a cell of the notebook edition, where each role of ``roles`` was pasted with the book's
    value ``book[name]``, a ``text/plain``) with the values ``now[name]`` pasted instead."""
    for name, spec in roles:
        if name in book and name in now:
            old, new = (format_plain_text(values[name], spec) for values in (book, now))
            text = re.sub(rf"(?<![\w.]){re.escape(old)}(?![\w])", lambda _: new, text)
    return text


# -- a course folder for nbgrader ----------------------------------------------------------------------------

NBGRADER_CONFIG = '''\
"""nbgrader's configuration for this course (written by `make problem-set`).

Each feedback page (nbgrader generate_feedback) carries MathJax, from mathjax/ here, not from a CDN: it
typesets offline on its own.  Its links to the book's chapters lead to the online book at BOOK_URL, or
become plain text when BOOK_URL is empty (a feedback folder holds no chapter notebooks).
"""
import sys
from pathlib import Path

import nbgrader

BOOK_URL = {book_url!r}
c = get_config()  # noqa: F821 (nbgrader provides it)
HERE = Path(__file__).resolve().parent
c.CourseDirectory.root = str(HERE)
c.CourseDirectory.course_id = {course!r}
# Feedback: nbgrader's template without its CDN MathJax (templates/feedback/offline.html.j2), MathJax 3
# inlined from mathjax/tex-svg.js, chapter links made to work (gbml_feedback.py).
sys.path.insert(0, str(HERE))
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "gbml_feedback.OfflineFeedback",
]
FORMGRADER = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
c.HTMLExporter.extra_template_basedirs = [str(HERE / "templates"), str(FORMGRADER)]
c.HTMLExporter.template_file = "offline.html.j2"
c.OfflineFeedback.mathjax = str(HERE / "mathjax" / "tex-svg.js")
c.OfflineFeedback.book_url = BOOK_URL
'''


def write_course_template(folder: Path, course: str, book_url: str = "") -> Path:
    """``folder``: an nbgrader course folder for ``course`` (its ``source/`` is the problem set's):
    ``nbgrader_config.py``, the feedback template and preprocessor, and MathJax (``tools/fetch_assets.sh``)."""
    folder = Path(folder)
    (folder / "templates" / "feedback").mkdir(parents=True, exist_ok=True)
    (folder / "mathjax").mkdir(exist_ok=True)
    (folder / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(course=course, book_url=book_url),
                                               encoding="utf-8")
    (folder / "templates" / "feedback" / "offline.html.j2").write_text(FEEDBACK_TEMPLATE, encoding="utf-8")
    shutil.copy(Path(__file__).with_name("feedback.py"), folder / "gbml_feedback.py")
    shutil.copy(ROOT / "_vendor" / ".mathjax-svg" / "tex-svg.js", folder / "mathjax")
    return folder
