"""The exercise index and the API page's "Used in" (the build package _ext/gbml_build).

Expected values are read from the chapter sources with plain regular expressions, independently of the
package's MyST parsing, or written into small synthetic chapters below.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from gbml_build import api, chapters, exercise_index
from gbml_build.booktoc import chapter_sources

ROOT = Path(__file__).resolve().parents[1]

CH02 = ROOT / "chapters" / "02_linear_representation.md"

HEADER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---
    """)

OBJECTIVES = textwrap.dedent("""\
    # A toy chapter

    :::{admonition} Learning objectives
    :class: tip

    After this chapter you can

    1. state the toy model;
    2. prove that the toy loss is
       nonnegative;
    3. code the toy gradient.

    *Time: 10 minutes.*
    :::
    """)


def _book(tmp_path: Path, body: str, *, objectives: str = OBJECTIVES, extra_pages: dict | None = None) -> Path:
    """A minimal book: _toc.yml with one chapter (chapters/toy) and optional further pages."""
    (tmp_path / "chapters").mkdir(parents=True)
    pages = {"chapters/toy": HEADER + objectives + textwrap.dedent(body)}
    pages.update(extra_pages or {})
    toc = "format: jb-book\nroot: chapters/toy\nchapters:\n" + "".join(
        f"  - file: {name}\n" for name in list(pages)[1:]) + "  - file: chapters/exercises\n"
    (tmp_path / "_toc.yml").write_text(toc)
    for name, text in pages.items():
        (tmp_path / f"{name}.md").write_text(text)
    return tmp_path


GOOD = """
## Exercises

% exercise: kind=proof; minutes=15; objective=2
:::{exercise} Nonnegative loss
:label: ex-toy-proof

Prove it.
:::

+++ {"tags": ["solution"]}

:::{solution} ex-toy-proof
:class: dropdown

A square is nonnegative.
:::

+++

% exercise: kind=coding; minutes=20; objective=1,3
```{exercise} Challenge: the toy gradient
:label: ex-toy-code

Code it.
```

An example of the markup, in a literal block, is not an exercise:

````md
% exercise: kind=proof; minutes=5; objective=1
:::{exercise} Not a real exercise
:label: ex-not-real
:::
````
"""


# -- the book's chapters ------------------------------------------------------------------------

PAGES = chapter_sources(ROOT)


def _outside_examples(text):
    """The text without its ````-fenced examples of markup (instructors.md shows an exercise in one)."""
    return re.sub(r"^````.*?^````$", "", text, flags=re.M | re.S)


@pytest.mark.parametrize("docname, path", PAGES, ids=[name for name, _ in PAGES])
def test_finds_every_exercise_of_a_page_with_its_metadata(docname, path):
    text = path.read_text(encoding="utf-8")
    chapter = chapters.read_chapter(path, docname, ROOT)
    assert chapter.title == re.search(r"^# (.+)$", text, flags=re.M).group(1)
    # Independent reading: each metadata line, the directive below it and the label below that.
    expected = re.findall(r"^% exercise: kind=(\w+); minutes=(\d+); objective=([\d,]+)\n"
                          r":::\{exercise\} (.+)\n:label: (\S+)$", _outside_examples(text), flags=re.M)
    n_directives = len(re.findall(r"^(?::::|```)\{exercise\}", _outside_examples(text), flags=re.M))
    assert len(expected) == n_directives, "every exercise has a metadata line"
    got = [(e.kind, str(e.minutes), ",".join(map(str, e.objectives)), e.title, e.label) for e in chapter.exercises]
    assert got == expected
    if not expected:
        return
    admonition = text.split(":::{admonition} Learning objectives", 1)[1].split("\n:::", 1)[0]
    objectives = [" ".join(m.split()).rstrip(";,.") for m in re.findall(r"^\d+\. (.*?)(?=^\d+\. |^\s*$)", admonition,
                                                          flags=re.M | re.S)]
    assert len(objectives) >= 2 and chapter.objectives == objectives
    lines = text.splitlines()
    for e in chapter.exercises:
        assert e.kind in {"proof", "computation", "coding"}
        assert e.level == ("challenge" if e.title.startswith("Challenge: ") else "core")
        assert e.objective_texts == tuple(objectives[n - 1] for n in e.objectives)
        assert lines[e.line - 1] == f":::{{exercise}} {e.title}"


@pytest.mark.parametrize("docname, path", PAGES, ids=[name for name, _ in PAGES])
def test_a_chapter_header_computes_its_exercise_time(docname, path):
    """The header's exercise time is the role, never a typed number, and the role sums the metadata."""
    text = path.read_text(encoding="utf-8")
    minutes = [int(m) for m in re.findall(r"^% exercise: kind=\w+; minutes=(\d+);", _outside_examples(text),
                                          flags=re.M)]
    if not minutes:
        return
    header = re.findall(r"^\*Time: .*\*$", text, flags=re.M)
    assert header == [header[0]] and "{exercise-minutes}`total` for the exercises" in header[0], header
    assert exercise_index.exercise_minutes(path, docname) == sum(minutes)


def test_exercise_titles_are_distinct_across_the_book():
    """Near-duplicate exercises are merged or made distinct: no two exercises share a title."""
    titles = [e.title for name, path in PAGES for e in chapters.read_chapter(path, name, ROOT).exercises]
    assert len(titles) >= 30
    assert sorted(t for t in set(titles) if titles.count(t) > 1) == []


def test_the_book_has_exercises_in_ten_chapters():
    assert sum(bool(chapters.read_chapter(path, name, ROOT).exercises) for name, path in PAGES) >= 10


def test_chapter_02_has_every_kind():
    chapter = chapters.read_chapter(CH02, "chapters/02_linear_representation", ROOT)
    assert [e.kind for e in chapter.exercises] == ["proof", "computation", "coding"]


def test_chapter_02_in_the_rendered_index():
    chapter = chapters.read_chapter(CH02, "chapters/02_linear_representation", ROOT)
    page = exercise_index.render_exercises([chapter])
    for e in chapter.exercises:
        line = next(line for line in page.splitlines() if f"{{ref}}`{e.label}`" in line)
        assert e.title in line and e.kind in line and f"{e.minutes} min" in line
    assert "{doc}`/chapters/02_linear_representation`" in page
    assert page.count("*Objective served:*") + page.count("*Objectives served:*") == len(chapter.exercises)


# -- synthetic chapters --------------------------------------------------------------------------

def test_index_of_a_synthetic_chapter(tmp_path):
    root = _book(tmp_path, GOOD)
    (chapter,) = chapters.collect(root)
    assert [e.label for e in chapter.exercises] == ["ex-toy-proof", "ex-toy-code"]  # not ex-not-real
    proof, code = chapter.exercises
    assert (proof.kind, proof.minutes, proof.objectives, proof.title) == ("proof", 15, (2,), "Nonnegative loss")
    assert proof.objective_texts == ("prove that the toy loss is nonnegative",)
    assert (code.kind, code.minutes, code.objectives) == ("coding", 20, (1, 3))
    assert (proof.level, code.level) == ("core", "challenge")
    page = exercise_index.render_exercises([chapter])
    assert "{ref}`ex-toy-code`" in page and "ex-not-real" not in page
    assert "| {doc}`/chapters/toy` | 2 | 1 | 0 | 1 | 1 | 35\u00a0min |" in page
    assert "1. state the toy model; 3. code the toy gradient" in page
    assert "without an exercise" not in page  # objectives 1, 2 and 3 are all served


@pytest.mark.parametrize("line, problem", [
    (None, "metadata line is missing"),
    ("% exercise: kind=essay; minutes=15; objective=2", "kind 'essay'"),
    ("% exercise: kind=proof; minutes=a quarter hour; objective=2", "minutes must be a positive whole number"),
    ("% exercise: kind=proof; minutes=0; objective=2", "minutes must be a positive whole number"),
    ("% exercise: kind=proof; minutes=15; objective=7", "objective 7 does not exist"),
    ("% exercise: kind=proof; minutes=15; objective=two", "objective must be the number"),
    ("% exercise: kind=proof; minutes=15", "lacks objective"),
    ("% exercise: kind=proof; minutes=15; objective=2; level=hard", "unknown field(s) level"),
    ("% exercise: kind=proof minutes=15 objective=2", "separate the fields with ';'"),
    ("% exercise: kind=proof; minutes; objective=2", "'minutes' is not of the form key=value"),
    ("% exercise: kind=proof; kind=coding; minutes=15; objective=2", "'kind' is given twice"),
    ("% exercise: kind=proof; minutes=15; objective=2\n", "a blank line separates it"),
])
def test_missing_or_malformed_metadata_is_a_clear_error(tmp_path, line, problem):
    body = ("" if line is None else line + "\n") + ":::{exercise} Broken\n:label: ex-toy-broken\n\nText.\n:::\n"
    root = _book(tmp_path, body)
    with pytest.raises(chapters.ExerciseMetadataError) as err:
        chapters.collect(root)
    message = str(err.value)
    assert problem in message
    assert "chapters/toy.md" in message and "exercise 'ex-toy-broken'" in message and "chapter chapters/toy" in message
    assert chapters.METADATA_EXAMPLE in message  # says how to fix it


def test_other_structural_errors(tmp_path):
    root = _book(tmp_path, "% exercise: kind=proof; minutes=5; objective=1\n:::{exercise} No label\n\nText.\n:::\n")
    with pytest.raises(chapters.ExerciseMetadataError, match=r"chapters/toy\.md:\d+: exercise 'No label'.*no :label:"):
        chapters.collect(root)


def test_orphan_metadata_line_and_missing_objectives(tmp_path):
    root = _book(tmp_path / "a", "% exercise: kind=proof; minutes=5; objective=1\n\nJust prose.\n")
    with pytest.raises(chapters.ExerciseMetadataError, match=r"chapters/toy\.md:\d+: .*not directly above an exercise"):
        chapters.collect(root)
    root = _book(tmp_path / "b", GOOD, objectives="# A chapter without objectives\n")
    with pytest.raises(chapters.ExerciseMetadataError, match="no numbered list in a 'Learning objectives' admonition"):
        chapters.collect(root)


def test_an_exercise_in_a_solution_cell_is_an_error(tmp_path):
    """Without the `+++` after a folded solution, make student would delete the next exercise with it."""
    root = _book(tmp_path, GOOD.replace("A square is nonnegative.\n:::\n\n+++\n", "A square is nonnegative.\n:::\n"))
    chapters.collect(root)  # the metadata alone is fine
    with pytest.raises(chapters.ExerciseMetadataError, match=r"chapters/toy\.md:\d+: exercise 'ex-toy-code'.*`\+\+\+`"):
        exercise_index.generate(root, check=True)
    exercise_index.generate(_book(tmp_path / "fixed", GOOD), check=True)


def test_cli_and_sphinx_hook_report_the_error(tmp_path, capsys):
    root = _book(tmp_path, ":::{exercise} Broken\n:label: ex-toy-broken\n:::\n")
    assert exercise_index.main(["--check", str(root)]) == 1
    assert "exercise 'ex-toy-broken'" in capsys.readouterr().err
    from sphinx.errors import ExtensionError

    class App:
        srcdir = str(root)

    with pytest.raises(ExtensionError, match="ex-toy-broken"):
        exercise_index.on_builder_inited(App())
    assert not (root / "chapters" / "exercises.md").exists()


def test_generate_writes_the_index_only_when_it_changed(tmp_path):
    root = _book(tmp_path, GOOD)
    assert exercise_index.generate(root) == [root / "chapters" / f"exercises.{s}" for s in ("md", "csv", "json")]
    assert "{ref}`ex-toy-proof`" in (root / "chapters" / "exercises.md").read_text()
    assert exercise_index.generate(root) == []  # unchanged content is not rewritten


def test_csv_and_json_exports_list_every_exercise_with_its_label(tmp_path):
    import csv
    import json
    root = _book(tmp_path, GOOD)
    exercise_index.generate(root)
    page = (root / "chapters" / "exercises.md").read_text()
    assert "(`ex-toy-proof`)" in page and "{download}`exercises.csv" in page
    rows = list(csv.DictReader((root / "chapters" / "exercises.csv").open()))
    data = json.loads((root / "chapters" / "exercises.json").read_text())
    assert [r["label"] for r in rows] == [d["label"] for d in data] == ["ex-toy-proof", "ex-toy-code"]
    assert rows[1]["kind"] == data[1]["kind"] == "coding"
    assert rows[1]["minutes"] == "20" and data[1]["minutes"] == 20
    assert rows[1]["objectives"] == "1;3" and data[1]["objectives"] == [1, 3]
    assert data[0]["title"] == "Nonnegative loss"
    assert [r["level"] for r in rows] == [d["level"] for d in data] == ["core", "challenge"]
    assert list(rows[0]) == list(exercise_index.FIELDS) and "level" in rows[0]


@pytest.mark.parametrize("title, level", [("Nonnegative loss", "core"), ("Challenge: the toy gradient", "challenge"),
                                          ("challenge:  lower case", "challenge"), ("A challenge for later", "core"),
                                          ("Challenges ahead", "core")])
def test_the_level_is_read_from_the_title(title, level):
    assert chapters.level_of(title) == level


def test_the_index_table_counts_and_lists_the_levels(tmp_path):
    root = _book(tmp_path, GOOD)
    page = exercise_index.render_exercises(chapters.collect(root))
    assert "| Coding | Challenge | Time |" in page
    assert "| **All chapters** | **2** | **1** | **0** | **1** | **1** |" in page
    assert "— proof, core, about 15 min" in page and "— coding, challenge, about 20 min" in page


CHALLENGE_CHAPTERS = ("04_anil", "05_maml", "06_first_order", "07_task_diversity", "08_finite_samples", "09_beyond")


def test_the_book_has_a_challenge_exercise_in_each_of_chapters_4_to_9():
    found = {c.docname.split("/")[-1]: [e for e in c.exercises if e.level == "challenge"]
             for c in chapters.collect(ROOT)}
    assert all(found[name] for name in CHALLENGE_CHAPTERS), {name: len(found[name]) for name in CHALLENGE_CHAPTERS}
    assert sum(len(v) for v in found.values()) >= 6
    for name in CHALLENGE_CHAPTERS:  # a challenge comes after the chapter's core exercises
        levels = [e.level for c in chapters.collect(ROOT) if c.docname.endswith(name) for e in c.exercises]
        assert levels == sorted(levels, key=lambda level: level == "challenge"), (name, levels)


def test_exercises_inside_directives_count_and_inside_code_they_do_not(tmp_path):
    body = ("\n::::{admonition} Try it\n% exercise: kind=proof; minutes=5; objective=1\n:::{exercise} Nested\n"
            ":label: ex-toy-nested\n:::\n::::\n\n```{code-block} md\n% exercise: kind=proof; minutes=5; objective=1\n"
            ":::{exercise} Shown as code\n:label: ex-toy-shown\n:::\n```\n")
    (chapter,) = chapters.collect(_book(tmp_path, body))
    (nested,) = chapter.exercises
    lines = (tmp_path / "chapters" / "toy.md").read_text().splitlines()
    assert nested.label == "ex-toy-nested" and lines[nested.line - 1] == ":::{exercise} Nested"


# -- the API reference ---------------------------------------------------------------------------

API_MD = ROOT / "chapters" / "api.md"


def test_api_page_documents_every_public_module_once():
    """Every public name of gbml is on the page: the package (its __all__) and each submodule whose names it
    does not re-export; a core module, documented through gbml, is not documented again (duplicates)."""
    import pkgutil

    import gbml

    documented = re.findall(r"^\.\. automodule:: (\S+)\n   :members:$", API_MD.read_text(), flags=re.M)
    assert len(documented) == len(set(documented)) and documented[0] == "gbml"
    modules = [info.name for info in pkgutil.walk_packages(gbml.__path__, "gbml.")]
    assert {"gbml.beyond", "gbml.book", "gbml.book.plotting", "gbml.book.paper"} <= set(modules)
    for name in modules:
        if any(part.startswith("_") for part in name.split(".")):
            continue
        module = __import__(name, fromlist=["__all__"])
        core = all(name in gbml.__all__ for name in module.__all__)
        assert (module.__name__ in documented) != core, module.__name__


class _App:
    """What the API hook uses of a Sphinx application."""

    def __init__(self, root):
        self.srcdir = str(root)
        self.env = type("Env", (), {})()


def test_used_in_is_added_to_module_level_names(tmp_path):
    import gbml

    root = _book(tmp_path, GOOD + "\n```{code-cell} ipython3\nimport gbml as g\ng.train\ng.Problem(3, 1).init\n```\n")
    app = _App(root)
    api.on_builder_inited(app)
    lines = ["Run a method."]
    api.add_used_in(app, "function", "gbml.train", gbml.train, {}, lines)
    assert lines == ["Run a method.", "", "*Used in:* :doc:`/chapters/toy`"]
    for what, name, obj in [("function", "gbml.meta_gradient", gbml.meta_gradient),  # not used
                            ("method", "gbml.Problem.init", gbml.Problem.init)]:     # not module-level
        lines = ["Text."]
        api.add_used_in(app, what, name, obj, {}, lines)
        assert lines == ["Text."], name
    lines = ["Class.", "", "Details."]
    api.add_used_in(app, "class", "gbml.Problem", gbml.Problem, {}, lines)
    assert lines[-1] == "*Used in:* :doc:`/chapters/toy`"
    lines = ["Summary of a module.", "", "Notes for developers."]
    api.add_used_in(app, "module", "gbml.book.plotting", gbml.book.plotting, {}, lines)
    assert lines == ["Summary of a module."]


def test_a_constant_without_doc_comment_does_not_get_its_types_docstring():
    import gbml
    from sphinx.util.docstrings import prepare_docstring

    lines = prepare_docstring(dict.__doc__)  # what autodoc gives gbml.METHODS
    api.drop_type_docstring(None, "data", "gbml.METHODS", gbml.METHODS, {}, lines)
    assert lines == []
    lines = ["Okabe-Ito colours."]  # a #: comment stays
    api.drop_type_docstring(None, "data", "gbml.book.plotting.PALETTE", gbml.book.plotting.PALETTE, {}, lines)
    assert lines == ["Okabe-Ito colours."]


def test_used_names_follows_imports():
    cells = ["import gbml\nfrom gbml.book import plotting as p\nfrom gbml.book import glue",
             "gbml.Problem(3, 1).sample_heads(2, 0)\np.figure()\nglue('x', 1)\nplotting = None",
             "%time x = 1\nimport numpy as np"]
    aliases = {}
    found = set().union(*(api.used_names(c, aliases) for c in cells))
    assert {"gbml.Problem", "gbml.book.plotting.figure", "gbml.book.glue"} <= found
    assert not any(name.startswith("np") or name == "gbml" for name in found)


def test_api_usage_finds_known_usages_in_chapter_02():
    usage = api.page_usage(ROOT)
    ch02 = "chapters/02_linear_representation"
    text = CH02.read_text(encoding="utf-8")
    assert "gbml.subspace_distance(" in text and "exercises.check_subspace_distance(" in text
    assert ch02 in api.used_in(usage, "gbml.subspace_distance")                 # gbml.<name>
    assert ch02 in api.used_in(usage, "gbml.book.exercises.check_subspace_distance")  # from gbml.book import exercises
    assert ch02 in api.used_in(usage, "gbml.book.glue")                          # from gbml.book import glue
    assert ch02 not in api.used_in(usage, "gbml.book.exercises.check_anil_inner_step")  # it can say "not used"
    assert "chapters/api" not in {page for pages in usage.values() for page in pages}  # the reference itself


def test_api_usage_resolves_aliases_and_submodule_paths(tmp_path):
    code = ("```{code-cell} ipython3\nimport gbml as g\nfrom gbml.geometry import subspace_distance as sd\n```\n\n"
            "```{code-cell} ipython3\nsd(None, None)\ng.train\n```\n")
    root = _book(tmp_path, "\nProse naming `gbml.local_rate`.\n\n" + code)
    usage = api.page_usage(root)
    for name in ("gbml.subspace_distance", "gbml.geometry.subspace_distance", "gbml.train", "gbml.local_rate"):
        assert api.used_in(usage, name) == ["chapters/toy"], name
    assert api.used_in(usage, "gbml.meta_gradient") == []


def test_chapter_template_follows_the_exercise_conventions():
    """chapters/_template.md is what authors copy: its exercises must pass the same checks as a chapter's."""
    chapter = chapters.read_chapter(ROOT / "chapters" / "_template.md", "chapters/_template")
    chapters.check_student_cells(chapter)
    assert [e.kind for e in chapter.exercises] == ["proof", "computation", "coding"]
