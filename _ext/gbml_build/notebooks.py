"""The notebook edition: chapter notebooks built from the *built* book, plus two course packs.

``sphinx-tojupyter`` writes each chapter from the doctrees of the HTML build, reusing its execution
(:func:`forbid_reading`), with the passes registered here (admonitions quoted, dropdowns folded, table
captions, math in theorem titles, anchors).  :func:`convert` adds what the builder cannot: the setup cell
(imports ``gbml`` or says how to install it; in Colab installs the site's wheel), exercise headings in book
order, a blank line after each table, solutions folded (full edition) or removed (student edition), figure
captions, numbered exercise links, the works cited, the book's macros expanded in every cell, and links to
pages outside the edition made to point to the online book (``baseurl()``) or made text.

Output: ``_build/notebooks/{full,student}/*.ipynb`` and ``course-pack{,-student}.zip`` (notebooks, the
``gbml`` wheel, pinned requirements, a README); :func:`install` copies an edition into a built site.
"""
from __future__ import annotations

import functools
import hashlib
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jupytext
import nbformat
from docutils import nodes

from .booktoc import ROOT, baseurl, is_notebook, notebook_pages, read_config, source, toc_files

OUT = ROOT / "_build" / "notebooks"
BUILT = ROOT / "_build" / "jupyter" / "chapters"
#: The course packs each edition's site links to (the full book both, the student book its own).
PACKS = {"full": ("course-pack.zip", "course-pack-student.zip"), "student": ("course-pack-student.zip",)}
PACK_PINS = ("numpy", "matplotlib", "ipywidgets", "jupyterlab", "ipykernel")
#: The pins the notebooks' kernel needs (``requirements-kernel.txt``): everything but the server, which a
#: JupyterHub keeps at its own version.
KERNEL_PINS = tuple(name for name in PACK_PINS if name != "jupyterlab")

# The first code cell of every notebook: outside Colab it installs nothing (without gbml it says how and
# stops); in Colab it installs the wheel the published site serves and turns on the widget manager.
SETUP = '''\
# Setup: this notebook needs the book's package `gbml`.  Outside Colab nothing is installed for you.
import importlib, subprocess, sys

try:
    import google.colab  # noqa: F401  (present only in a Colab session)
    IN_COLAB = True
except ImportError:
    IN_COLAB = False

# In Colab: the wheel of gbml (distribution maml-anil-book) that the book's website serves.
WHEEL_URL = {wheel_url!r}
try:
    import gbml
except ImportError:
    if not (IN_COLAB and WHEEL_URL):
        print("This notebook needs the package gbml (distribution maml-anil-book), which is not installed.\\n"
              "Install it from the course pack, in the folder holding its requirements.txt:\\n\\n"
              "    pip install -r requirements.txt\\n\\n"
              "then restart the kernel and run the notebook again.")
        raise ModuleNotFoundError("gbml is not installed: see the message above") from None
    print(f"Colab: installing gbml (distribution maml-anil-book) from {{WHEEL_URL}}")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", WHEEL_URL],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(pip.stdout.strip().splitlines()[-1] if pip.stdout.strip() else "")
    if pip.returncode != 0:
        print(pip.stdout)
        raise RuntimeError(f"pip could not install {{WHEEL_URL}} (exit {{pip.returncode}}): see above")
    importlib.invalidate_caches()
    import gbml
    print(f"Colab: gbml {{gbml.__version__}} installed")
if IN_COLAB:
    from google.colab import output
    output.enable_custom_widget_manager()  # the explorers are ipywidgets
'''

#: The metadata of every notebook written (with its title).
METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}}
#: Where the site (``make site``, :mod:`gbml_build.site`) serves the gbml wheel, beside the course packs.
WHEEL_DIR = "packs"


def pack_version(root: Path = ROOT) -> str:
    """``gbml.__version__`` with a label hashed from the package's source (``0.1.0+src.1a2b3c4d5e``): pip
    replaces an older pack's gbml only when the version differs."""
    package = root / "gbml"
    version = re.search(r'^__version__ = "([^"]+)"', (package / "__init__.py").read_text(encoding="utf-8"), re.M)
    digest = hashlib.sha256()
    for f in sorted(package.rglob("*.py")):
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return f"{version.group(1)}+src.{digest.hexdigest()[:10]}"


def wheel_name(root: Path = ROOT) -> str:
    """The file name of the gbml wheel ``build_wheel`` makes (at :func:`pack_version`)."""
    return f"maml_anil_book-{pack_version(root)}-py3-none-any.whl"


def build_wheel(dest: Path, root: Path = ROOT) -> Path:
    """Build the gbml wheel into ``dest`` at :func:`pack_version` (which its ``gbml.__version__`` reports)."""
    version = pack_version(root)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    staging = dest / "src"
    shutil.copytree(root / "gbml", staging / "gbml", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (root / name).exists():
            shutil.copy2(root / name, staging / name)
    init = staging / "gbml" / "__init__.py"
    init.write_text(re.sub(r'^__version__ = "[^"]+"', f'__version__ = "{version}"',
                           init.read_text(encoding="utf-8"), count=1, flags=re.M), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    str(staging), "-w", str(dest)], check=True)
    shutil.rmtree(staging)
    wheel = dest / wheel_name(root)
    if not wheel.exists():  # the setup cell's Colab address and the packs' requirements name it
        raise RuntimeError(f"built {[w.name for w in dest.glob('*.whl')]}, expected {wheel.name}")
    return wheel


# -- in the builder (each pass returns at once in another builder) ---------------------------------------

_ADMONITIONS = (nodes.note, nodes.tip, nodes.hint, nodes.important, nodes.warning, nodes.caution,
                nodes.attention, nodes.danger, nodes.error)
_START, _TITLE_END, _END = "GBMLBLOCK", "GBMLTITLE", "GBMLEND"


def _mark_blocks(app, doctree, docname):
    for node in list(doctree.findall(nodes.Element)):
        if node.get("design_component") == "dropdown":
            kind, title = "details", next(iter(node.findall(nodes.rubric)), None)
        elif (type(node) is nodes.admonition and "proof" not in node["classes"]) or isinstance(node, _ADMONITIONS):
            kind, title = "quote", next((c for c in node.children if isinstance(c, nodes.title)), None)
        else:
            continue
        label = list(title.children) if title is not None else [nodes.Text(type(node).__name__.capitalize())]
        body = [c for c in node.children if c is not title]
        start = nodes.paragraph("", "", nodes.Text(f"{_START}:{kind}:"), *label, nodes.Text(_TITLE_END))
        node.replace_self([start, *body, nodes.paragraph("", _END)])


def _table_captions(app, doctree, docname):
    """A table's caption becomes a paragraph above it, "**Table 7.1.** …" with its math (the builder
    writes a caption as a heading of plain text, dropping the ``$`` of its math and its number)."""
    numbers = app.env.toc_fignumbers.get(docname, {}).get("table", {})
    for table in list(doctree.findall(nodes.table)):
        title = next((c for c in table.children if isinstance(c, nodes.title)), None)
        if title is None:
            continue
        num = next((numbers[i] for i in table["ids"] if i in numbers), None)
        label = "Table " + ".".join(map(str, num)) + "." if num else "Table."
        table.remove(title)
        table.parent.insert(table.parent.index(table),
                            nodes.paragraph("", "", nodes.strong("", label), nodes.Text(" "), *title.children))


def _proof_titles(app, doctree, docname):
    """The math of a proposition's, lemma's or theorem's title keeps its ``$`` (the builder writes such a
    title as plain text: "when $k \\ll d$" came out as "when k \\ll d")."""
    for title in doctree.findall(nodes.title):
        if "proof" in title.parent.get("classes", ()):
            for math in list(title.findall(nodes.math)):
                math.replace_self(nodes.Text(f"${math.astext()}$"))


def _anchors(app, doctree, docname):
    """Every labelled block (proposition, theorem, proof, equation, figure, ...) gets an ``<a id>`` anchor
    before it, so that links to it land there: the builder writes anchors for section labels only."""
    seen = {t["refid"] for t in doctree.findall(nodes.target) if t.get("refid")}  # the hook may run twice
    for node in list(doctree.findall(nodes.Element)):
        if isinstance(node, (nodes.section, nodes.document)) or isinstance(node.parent, nodes.TextElement) \
                or node.parent is None or not isinstance(node, (nodes.Body, nodes.target)) or node.get("refid"):
            continue
        ids = [i for i in node["ids"] if not re.fullmatch(r"id\d+", i) and i not in seen]
        seen.update(ids)
        if ids:
            node.parent.insert(node.parent.index(node), [nodes.target("", "", refid=i) for i in ids])


def _aligned_math(app, doctree, docname):
    """A display equation of several aligned lines (``&``, ``\\\\``) and no environment of its own is set
    in ``aligned``, as Sphinx's MathJax output does with ``split``; the builder writes it bare, which
    MathJax reports as a misplaced ``&``."""
    for node in doctree.findall(nodes.math_block):
        tex = node.astext()
        if ("&" in tex or "\\\\" in tex) and "\\begin{" not in tex:
            node.children = [nodes.Text(f"\\begin{{aligned}}\n{tex.strip()}\n\\end{{aligned}}")]


_INLINE = {nodes.literal: "`", nodes.emphasis: "*", nodes.strong: "**"}


def _table_inline_markup(app, doctree, docname):
    """Code and emphasis inside table cells become Markdown text (the builder writes their markers before
    the table and drops them from the cell)."""
    for table in doctree.findall(nodes.table):
        for node in list(table.findall(lambda n: type(n) in _INLINE)):
            mark = _INLINE[type(node)]
            node.replace_self(nodes.Text(f"{mark}{node.astext()}{mark}"))


def forbid_reading(app, env, docnames):
    """``env-before-read-docs``: reading a chapter would execute it a second time, so stop and say why."""
    again = sorted(set(docnames) & set(notebook_pages(Path(app.srcdir))))
    if again:
        from sphinx.errors import ExtensionError
        raise ExtensionError(f"the notebook edition would execute {', '.join(again)} again: it is built from the "
                             "HTML build's doctrees with the same configuration (make book; gbml_build.build)")


def _notebook_builder_only(handler):
    @functools.wraps(handler)
    def run(app, *args):
        if app.builder.name == "jupyter":  # sphinx-tojupyter's builder
            handler(app, *args)
    return run


def register(app):
    """The notebook builder's passes (skipped by every other builder)."""
    app.connect("env-before-read-docs", _notebook_builder_only(forbid_reading))
    for handler in (_mark_blocks, _table_captions, _proof_titles, _table_inline_markup, _anchors, _aligned_math):
        app.connect("doctree-resolved", _notebook_builder_only(handler))


def _quote_blocks(cells) -> None:
    """Turn the builder's marked blocks into quoted blocks with a bold title (or ``<details>``)."""
    kind = None
    for cell in cells:
        if cell.cell_type != "markdown":
            continue
        lines = []
        for line in cell.source.split("\n"):
            start = re.match(rf"\s*{_START}:(\w+):(.*){_TITLE_END}\s*$", line)
            if start:
                kind, title = start.groups()
                lines.append(f"> **{title.strip()}**\n>" if kind == "quote" else
                             f"<details>\n<summary><b>{title.strip()}</b></summary>\n")
            elif line.strip() == _END:
                lines.append("</details>" if kind == "details" else "")
                kind = None
            else:
                lines.append(("> " + line).rstrip() if kind == "quote" else line)
        cell.source = "\n".join(lines).strip("\n")


def _number_exercises(cells, name: str, fignums: dict) -> None:
    """Links to exercises carry the exercise's number ("Exercise 5.1")."""
    def numbered(m):
        doc = f"chapters/{m.group(1)[:-6]}" if m.group(1) else name
        num = fignums.get(doc, {}).get("exercise", {}).get(m.group(2))
        return f"[Exercise {'.'.join(map(str, num))}]" if num else m.group(0)

    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\[Exercise\](?=\((\w+\.ipynb)?#([\w-]+)\))", numbered, cell.source)


def _figure_numbers() -> dict:
    """docname -> {"figure": {id: (7, 1)}, "exercise": {...}, "equation": {id: "7.6"}, ...}"""
    with open(ROOT / "_build" / ".doctrees" / "environment.pickle", "rb") as f:
        env = pickle.load(f)
    numbers = {doc: dict(kinds) for doc, kinds in env.toc_fignumbers.items()}
    for label, (doc, number) in env.domaindata["math"]["objects"].items():
        chapter = env.toc_secnumbers.get(doc, {}).get("", ())
        tag = ".".join(map(str, (*chapter[:1], number)))
        numbers.setdefault(doc, {}).setdefault("equation", {})[nodes.make_id(f"equation-{label}")] = tag
    return numbers


def _equation_anchors(cells, name: str, fignums: dict) -> None:
    """Numbered equations the builder wrote without an anchor (inside list items) get one before their ``$$``."""
    have = {a for c in cells if c.cell_type == "markdown" for a in re.findall(r"<a id='([\w-]+)'>", c.source)}
    for anchor, tag in fignums.get(name, {}).get("equation", {}).items():
        if anchor in have:
            continue
        block = re.compile(r"^([ \t>]*)\$\$\n((?:(?!.*\$\$).*\n)*?.*\\tag\{" + re.escape(tag) + r"\})", re.M)
        for cell in cells:
            if cell.cell_type == "markdown" and block.search(cell.source):
                cell.source = block.sub(lambda m: f"{m.group(1)}<a id='{anchor}'></a>\n{m.group(1)}$$\n{m.group(2)}",
                                        cell.source, count=1)
                break


def _source_cells(name: str) -> dict[str, dict]:
    """Code of every source code cell -> its metadata (tags, mystnb figure)."""
    nb = jupytext.read(source(name))
    return {c.source.strip(): c.metadata for c in nb.cells if c.cell_type == "code"}


def _references() -> dict[str, str]:
    """Anchor id -> entry text, from the generated references page."""
    nb = nbformat.read(BUILT / "references.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return dict(re.findall(r"<a id='([^']+)'></a>\n(.+)", text))


_EXERCISE = re.compile(r"^(#+)\s+\((.*)\)(Exercise [\d.]+)\s*$", re.M)
_SOLUTION = re.compile(r"^#+\s+Solution to\s*\[\s*(.*?)\]\([^)]*\)\s*$", re.M)
# A table's last row ("|...|") followed at once by text: GitHub-flavoured Markdown (JupyterLab, Colab, VS Code)
# would read the text as more rows of the table, so a blank line goes between them.
_TABLE_END = re.compile(r"^(\|.*\|)[ \t]*\n(?=[^|\n])", re.M)


_TRAILING_ANCHORS = re.compile(r"(?:\s*<a id='[\w-]+'></a>)+\s*$")


def _anchors_to_next_cell(cells) -> None:
    """Anchors at the end of a Markdown cell label the next cell's block: move them there (they stay when
    the cell before is dropped)."""
    for cell, after in zip(cells, cells[1:]):
        found = _TRAILING_ANCHORS.search(cell.source) if cell.cell_type == "markdown" else None
        if found and after.cell_type == "markdown":
            cell.source = cell.source[:found.start()]
            after.source = found.group(0).strip() + "\n\n" + after.source


def macros() -> dict[str, tuple[str, int]]:
    """The book's TeX macros (``mathjax3_config`` of ``_config.yml``): name -> (definition, arguments)."""
    found = read_config()["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    return {n: (d, 0) if isinstance(d, str) else (d[0], d[1]) for n, d in found.items()}


def _argument(text: str, start: int) -> tuple[str, int]:
    """The brace group (or single token) of a macro argument at ``text[start:]``, and where it ends."""
    while start < len(text) and text[start] == " ":
        start += 1
    if text[start:start + 1] != "{":
        return text[start:start + 1], start + 1
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0) if text[i - 1] != "\\" else 0
        if depth == 0:
            return text[start + 1:i], i + 1
    raise ValueError(f"unbalanced braces after {text[max(0, start - 20):start + 20]!r}")


def expand_macros(text: str, book_macros: dict[str, tuple[str, int]]) -> str:
    """``text`` with every use of the book's macros replaced by its definition (with arguments, nested), so
    that a cell's math renders when typeset alone (Colab, VS Code)."""
    pattern = re.compile(r"\\(" + "|".join(sorted(map(re.escape, book_macros), key=len, reverse=True)) + r")(?![A-Za-z])")
    while True:
        m = pattern.search(text)
        if m is None:
            return text
        body, n_args = book_macros[m.group(1)]
        end = m.end()
        for k in range(1, n_args + 1):
            arg, end = _argument(text, end)
            body = body.replace(f"#{k}", arg)
        if re.search(r"\\[A-Za-z]+$", body) and text[end:end + 1].isalpha():
            body += " "  # \norm{x}e_1 must not become \rVerte_1
        text = text[:m.start()] + body + text[end:]


def convert(name: str, fignums: dict, refs: dict[str, str], student: bool) -> nbformat.NotebookNode:
    nb = nbformat.read(BUILT / f"{Path(name).name}.ipynb", as_version=4)
    _anchors_to_next_cell(nb.cells)
    nb.cells = [c for c in nb.cells if c.cell_type != "markdown" or c.source.strip()]
    meta = _source_cells(name)
    cells = []
    for cell in nb.cells:
        info = meta.get(cell.source.strip(), {}) if cell.cell_type == "code" else {}
        tags = list(info.get("tags", []))
        if cell.cell_type == "markdown":
            cell.source = _EXERCISE.sub(r"\1 \3 (\2)", cell.source).replace("**Proof.**\n\nProof. ", "**Proof.** ")
            cell.source = _TABLE_END.sub("\\1\n\n", cell.source)
            solution = _SOLUTION.search(cell.source)
            if solution:
                if student:
                    continue
                body = _SOLUTION.sub("", cell.source, count=1).strip()
                cell.source = (f"<details>\n<summary><b>Solution to {solution.group(1)}</b></summary>\n\n"
                               f"{body}\n\n</details>")
        if "solution" in tags and student:
            continue
        if {"solution", "hide-input", "hide-cell"} & set(tags):  # folded in the book
            cell.metadata["jupyter"] = {"source_hidden": True}  # collapsed in JupyterLab and Notebook 7
        cell.metadata.pop("hide-output", None)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)
        figure = info.get("mystnb", {}).get("figure")
        if figure and figure.get("caption"):
            num = fignums.get(name, {}).get("figure", {}).get(figure.get("name"))
            label = "Figure " + ".".join(map(str, num)) + "." if num else "Figure."
            caption = " ".join(figure["caption"].split())
            cells.append(nbformat.v4.new_markdown_cell(f"**{label}** {caption}"))
    _quote_blocks(cells)
    _number_exercises(cells, name, fignums)
    _equation_anchors(cells, name, fignums)
    cited = {ref for c in cells if c.cell_type == "markdown"
             for ref in re.findall(r"references\.ipynb#([\w-]+)", c.source) if ref in refs}
    if cited:
        entries = "\n\n".join(f"<a id='{r}'></a>\n{refs[r]}" for r in sorted(cited, key=lambda r: refs[r]))
        cells.append(nbformat.v4.new_markdown_cell(f"## References\n\n{entries}"))
        for cell in cells:  # the works cited are now at the end of this notebook
            if cell.cell_type == "markdown":
                cell.source = cell.source.replace("(references.ipynb#", "(#")
    title = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and re.search(r"^# ", c.source, re.M))
    online = baseurl()
    if any(c.cell_type == "code" for c in cells):  # Colab installs the wheel the online book serves
        setup = SETUP.format(wheel_url=f"{online}/{WHEEL_DIR}/{wheel_name()}" if online else "")
        cells.insert(title + 1, nbformat.v4.new_code_cell(setup, metadata={"tags": ["setup"]}))
    link_pages(cells, name, f"{online}/student" if online and student else online)  # the site's student/ book
    book_macros = macros()
    for cell in cells[1:]:  # cells[0] defines the macros
        if cell.cell_type == "markdown":
            cell.source = expand_macros(cell.source, book_macros)
    nb.cells = cells
    nb.metadata = {**METADATA, "title": nb.metadata.get("title", "")}
    return nb


def chapters() -> list[str]:
    return [n for n in toc_files() if Path(n).name[:2].isdigit() and is_notebook(source(n))]


#: Pages of each edition besides the chapters (the chapters link to them).
EXTRA_PAGES = ("chapters/notation",)


def pages() -> list[str]:
    """The docnames of an edition's notebooks, in book order."""
    notebooks = chapters() + list(EXTRA_PAGES)
    return [n for n in toc_files() if n in notebooks]


_LINK = re.compile(r"\[([^\]]*)\]\(([\w-]+)\.ipynb(#[\w-]+)?\)")


def link_pages(cells, name: str, online: str, edition: tuple[str, ...] | None = None) -> None:
    """Links to notebooks of the edition stay; a link to another page of the book points to the online
    book at ``online`` (the base URL, which the title cell also links), or becomes its text."""
    names = {Path(n).name for n in (pages() if edition is None else edition)}
    docnames = {Path(n).name: n for n in toc_files()}

    def relink(m):
        text, page, anchor = m.group(1), m.group(2), m.group(3) or ""
        if page in names:
            return m.group(0)
        if online and page in docnames:
            return f"[{text}]({online}/{docnames[page]}.html{anchor})"
        return text

    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = _LINK.sub(relink, cell.source)
    if online:
        title = next(c for c in cells if c.cell_type == "markdown" and re.search(r"^# ", c.source, re.M))
        title.source += f"\n\n*Read this page in the online book: <{online}/{name}.html>*"


def write_editions() -> dict[str, list[Path]]:
    fignums, refs = _figure_numbers(), _references()
    written = {}
    for edition in ("full", "student"):
        folder = OUT / edition
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        written[edition] = []
        for name in pages():
            nb = convert(name, fignums, refs, student=edition == "student")
            path = folder / f"{Path(name).name}.ipynb"
            nbformat.write(nb, path)
            written[edition].append(path)
    return written


def pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    found = dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return {name: found[name] for name in PACK_PINS}


README = """\
# Course pack: MAML and ANIL provably learn representations ({edition} edition)

The chapter notebooks of the book and its package `gbml` (as the wheel `{wheel}`).
In an empty folder holding this pack, with Python 3.11 or later (a virtual environment is best):

    pip install -r requirements.txt
    jupyter lab

Then open a chapter notebook and run all cells. {note}

`requirements.txt` is `requirements-kernel.txt` (what the notebooks' kernel needs: the pinned numpy,
matplotlib, ipywidgets and ipykernel, and `gbml`) plus JupyterLab. On a JupyterHub, whose server has a
version of its own, install `requirements-kernel.txt` only, into the users' environment or image.
"""


def write_packs(written: dict[str, list[Path]]) -> list[Path]:
    wheel = build_wheel(OUT / "wheel")
    pinned = pins()
    kernel = "".join(f"{n}=={pinned[n]}\n" for n in KERNEL_PINS) + f"./{wheel.name}\n"
    requirements = "-r requirements-kernel.txt\n" + "".join(f"{n}=={v}\n" for n, v in pinned.items()
                                                          if n not in KERNEL_PINS)
    packs = []
    for edition, note in (("full", "Each exercise's solution is folded under it."),
                          ("student", "Exercises have no solutions: an exercise's check says when it is not "
                                      "written yet.")):
        path = OUT / PACKS[edition][0]
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for nb in written[edition]:
                z.write(nb, nb.name)
            z.write(wheel, wheel.name)
            z.writestr("requirements.txt", requirements)
            z.writestr("requirements-kernel.txt", kernel)
            z.writestr("README.md", README.format(edition=edition, wheel=wheel.name, note=note))
        packs.append(path)
    return packs


def install(html_dir: Path, edition: str) -> None:
    """Copy the ``edition`` ("full" or "student") into the built site ``html_dir``: each page's notebook to
    ``_notebooks/`` (its download button's address) and the course packs the edition links to ``packs/``."""
    for name in pages():
        notebook = OUT / edition / f"{Path(name).name}.ipynb"
        if not notebook.exists():
            raise FileNotFoundError(f"the notebook edition has no {notebook}: run `make book`")
        target = Path(html_dir) / "_notebooks" / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, target)
    (Path(html_dir) / "packs").mkdir(exist_ok=True)
    for pack in PACKS[edition]:
        shutil.copyfile(OUT / pack, Path(html_dir) / "packs" / pack)


def main() -> int:
    """Write both editions and the packs from the notebook builder's output (``_build/jupyter``)."""
    written = write_editions()
    packs = write_packs(written)
    print(f"make notebooks: {len(written['full'])} full and {len(written['student'])} student notebooks "
          f"in {OUT}; packs: {', '.join(p.name for p in packs)}")
    return 0
