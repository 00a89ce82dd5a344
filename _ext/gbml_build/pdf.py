"""The PDF edition: Chromium prints every built page of ``_toc.yml`` and pypdf binds them (``make pdf``).

For each edition (the book from ``_build/html``, the student edition from ``_build/student/html``):

* every page of ``_toc.yml`` is opened, in order, in Debian's Chromium (:mod:`.browser`: driven by
  Playwright, the site served from 127.0.0.1), and printed to A4 once MathJax has typeset it and its
  widgets have rendered.  Before printing, folded blocks (solution dropdowns, hidden solution code) are
  opened, the print rules of ``_ext/static/print.css`` are added, display equations wider than the page
  are scaled to fit, and every explorer gets a line giving the URL of its live version (the site's
  address, :func:`.booktoc.baseurl`, when there is one, otherwise the page's path inside the built site);
* a title page (title, author, version of ``gbml``, date) and a contents page are printed the same way;
* pypdf merges them, adds an outline (one bookmark per part and page, with the page's own headings
  below it), makes the contents entries and the links between pages of the book jump inside the PDF,
  and numbers the pages.

Output: ``_build/pdf/book.pdf`` and ``_build/pdf/book-student.pdf``.  Everything runs offline.  ``make pdf``
rebuilds only what is stale: the book and the student edition when older than their sources
(:func:`.build.ensure_built`, :func:`.student.ensure_built`), a PDF when older than its edition.

Usage: ``make pdf`` (``PYTHONPATH=_ext python -m gbml_build.pdf``);
``python -m gbml_build.pdf --html DIR --out FILE [--student]`` prints one built site.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import html
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pypdf import PdfReader, PdfWriter
from pypdf.generic import (ArrayObject, ByteStringObject, FloatObject, NameObject, NullObject,
                           TextStringObject)

import gbml  # its version is printed on the title page

from .booktoc import ROOT, STAMPS, baseurl, is_fresh, read_config, toc_entries, write_stamp
from .browser import Server, chromium, wait_for_mathjax

PRINT_CSS = ROOT / "_ext" / "static" / "print.css"
OUT = ROOT / "_build" / "pdf"

MARGIN = {"top": "16mm", "bottom": "18mm", "left": "16mm", "right": "16mm"}
CONTENTS_LINK = "https://contents.invalid/"  # contents entries; rewritten to jumps inside the PDF
TIMEOUT_MS = 120_000

# Resolves when the page is ready to print (MathJax has typeset it: ``browser.wait_for_mathjax`` first):
# every widget view has rendered, every image has loaded.
READY_JS = """async () => {
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  const t0 = Date.now();
  const rendered = () => Array.from(views).every(s => {
    const area = s.previousElementSibling;
    return area && area.classList.contains('widget-subarea') && area.children.length > 0;
  });
  while (!rendered()) {
    if (Date.now() - t0 > 60000) throw new Error('widgets did not render');
    await new Promise(r => setTimeout(r, 50));
  }
  await Promise.all(Array.from(document.images).filter(i => !i.complete)
    .map(i => new Promise(r => { i.onload = i.onerror = r; })));
  const math = document.querySelectorAll('.math').length;
  const typeset = document.querySelectorAll('.math mjx-container, mjx-container.MathJax').length;
  return {math, typeset, widgets: views.length};
}"""

# Opens what is folded, adds the live-version line under each explorer, returns the page's title.
PREPARE_JS = """(live) => {
  document.querySelectorAll('.admonition.toggle-hidden').forEach(el => el.classList.remove('toggle-hidden'));
  document.querySelectorAll('details').forEach(d => {
    const cell = d.closest('.cell');
    if (cell && !cell.classList.contains('tag_solution') && d.classList.contains('above-input')) {
      d.remove();                 // code hidden in the book stays hidden (its output prints)
    } else {
      d.open = true;
      const s = d.querySelector(':scope > summary');
      if (s && cell) s.style.display = 'none';
    }
  });
  document.querySelectorAll('.gbml-explorer-caption').forEach(cap => {
    const p = document.createElement('p');
    p.className = 'gbml-explorer-live';
    p.textContent = 'Interactive version: ' + live;
    cap.after(p);
  });
  const h1 = [...document.querySelectorAll('h1')].find(h => h.querySelector('.headerlink'))
    || document.querySelector('h1');  // the page's own heading, with its chapter number
  if (!h1) return document.title;
  const c = h1.cloneNode(true);
  c.querySelectorAll('.headerlink').forEach(a => a.remove());
  return c.textContent.trim();
}"""

# Scales display equations that are wider than the printed column and keeps short code blocks on one
# page (called with print media on).
FIT_JS = """() => {
  document.querySelectorAll('div[class*="highlight-"]').forEach(h => {
    const box = h.closest('.cell_input, .cell_output') || h;
    if (box.getBoundingClientRect().height < 320) box.classList.add('gbml-keep');
  });
  let n = 0;
  document.querySelectorAll('mjx-container[display="true"]').forEach(m => {
    const box = m.parentElement.getBoundingClientRect().width;
    const w = m.scrollWidth;
    if (box > 0 && w > box + 1) { m.style.fontSize = (100 * box / w * 0.98).toFixed(1) + '%'; n++; }
  });
  return n;
}"""


def _front_html(body: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
      body {{ font-family: "DejaVu Sans", sans-serif; color: #222; }}
      .title {{ margin-top: 32%; text-align: center; }}
      .title h1 {{ font-size: 30pt; line-height: 1.25; margin: 0 0 24pt; }}
      .title p {{ font-size: 14pt; margin: 6pt 0; }}
      .title .edition {{ margin-top: 28pt; font-size: 12pt; color: #555; }}
      h2 {{ font-size: 20pt; margin: 0 0 14pt; }}
      .part {{ font-weight: bold; margin: 12pt 0 4pt; font-size: 11.5pt; }}
      a.entry {{ display: flex; color: #222; text-decoration: none; font-size: 11pt; margin: 3pt 0; }}
      a.entry .dots {{ flex: 1; border-bottom: 1px dotted #999; margin: 0 4pt 4pt; }}
      a.entry.depth1 {{ padding-left: 1.5em; }}
    </style></head><body>{body}</body></html>"""


def title_html(cfg: dict, version: str, student: bool, date: str) -> str:
    title = html.escape(str(cfg.get("title", "")))
    author = html.escape(str(cfg.get("author", "")))
    edition = "Student edition: the exercises without their solutions" if student else \
        "Every exercise is followed by its solution"
    return _front_html(f"""<div class="title"><h1>{title}</h1><p>{author}</p>
      <p>gbml {html.escape(version)} &middot; {date}</p><p class="edition">{edition}</p></div>""")


def contents_html(entries: list[dict]) -> str:
    rows, part = [], object()
    for i, e in enumerate(entries):
        if e["part"] != part and e["part"]:
            rows.append(f'<div class="part">{html.escape(e["part"])}</div>')
        part = e["part"]
        rows.append(f'<a class="entry depth{min(e["depth"], 1)}" href="{CONTENTS_LINK}{i}">'
                    f'<span>{html.escape(e["title"])}</span><span class="dots"></span>'
                    f'<span>{e["start"] + 1}</span></a>')
    return _front_html("<h2>Contents</h2>" + "".join(rows))


def print_html(page, content: str, out: Path) -> int:
    page.set_content(content, wait_until="load")
    page.emulate_media(media="print")
    page.pdf(path=str(out), format="A4", print_background=True, margin=MARGIN)
    return len(PdfReader(out).pages)


def print_page(page, url: str, live: str, css: str, out: Path) -> dict:
    """Print one built page to ``out``; return its title and what was checked."""
    page.emulate_media(media="screen")
    page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    try:
        if page.locator(".math").count():
            wait_for_mathjax(page)
        state = page.evaluate(READY_JS)
    except Exception as exc:  # MathJax or the widgets never finished: name the page
        raise RuntimeError(f"{url}: not ready to print: {exc}") from exc
    if state["typeset"] < state["math"]:
        raise RuntimeError(f"{url}: MathJax typeset {state['typeset']} of {state['math']} formulas")
    title = page.evaluate(PREPARE_JS, live)
    page.add_style_tag(content=css)
    page.emulate_media(media="print")
    scaled = page.evaluate(FIT_JS)
    page.pdf(path=str(out), format="A4", print_background=True, margin=MARGIN, outline=True)
    return {"title": title, "scaled": scaled, **state}


def _copy_outline(writer, reader, items, parent, offset):
    """Copy a printed page's own headings (Chromium's outline) below ``parent``."""
    last = parent
    for item in items:
        if isinstance(item, list):
            _copy_outline(writer, reader, item, last, offset)
            continue
        number = reader.get_destination_page_number(item)
        if number is not None and number >= 0:
            last = writer.add_outline_item(title=str(item.title), page_number=offset + number, parent=parent,
                                           is_open=False)


def _jump(annot, writer, target):
    """Make ``annot`` a jump to ``target``: a page index, or ``(page index, left, top)``."""
    page, left, top = target if isinstance(target, tuple) else (target, None, None)
    def num(v):
        try:
            return FloatObject(float(v))
        except (TypeError, ValueError):
            return NullObject()

    annot.pop(NameObject("/A"), None)
    annot[NameObject("/Dest")] = ArrayObject([writer.pages[page].indirect_reference, NameObject("/XYZ"),
                                              num(left), num(top), NullObject()])


def anchors(reader, offset: int) -> dict[str, tuple]:
    """The named destinations Chromium wrote for a printed page (its ids), as positions in the book."""
    out = {}
    for name, dest in reader.named_destinations.items():
        number = reader.get_destination_page_number(dest)
        if number is not None and number >= 0:
            out[str(name).lstrip("/")] = (offset + number, dest.left, dest.top)
    return out


def _relink(writer, origin: str, entries: list[dict], baseurl: str) -> dict:
    """Contents entries and links inside and between the book's pages jump inside the PDF (to the
    anchor when the target page has it, else to the page's start); other site-local links point at the
    live site (``baseurl``) or are dropped; external links are kept."""
    counts = {"contents": 0, "internal": 0, "live": 0, "dropped": 0}
    starts = {e["name"]: e["start"] for e in entries}
    owner = {}
    for e in entries:
        owner.update({i: e for i in range(e["start"], e["start"] + e["pages"])})
    for index, page in enumerate(writer.pages):
        if "/Annots" not in page:
            continue
        keep = ArrayObject()
        for ref in page["/Annots"]:
            annot = ref.get_object()
            dest = annot.get("/Dest")
            if isinstance(dest, (NameObject, TextStringObject, ByteStringObject)) and index in owner:
                here = owner[index]  # a link inside the page: Chromium names its target
                target = here["anchors"].get(str(dest).lstrip("/"), here["start"])
                _jump(annot, writer, target)
                counts["internal"] += 1
                keep.append(ref)
                continue
            uri = annot.get("/A", {}).get("/URI") if "/A" in annot else None
            if uri is None:
                keep.append(ref)
                continue
            uri = str(uri)
            if uri.startswith(CONTENTS_LINK):
                _jump(annot, writer, entries[int(uri[len(CONTENTS_LINK):])]["start"])
                counts["contents"] += 1
            elif uri.startswith(origin):
                parts = urlsplit(uri)
                path = unquote(parts.path).lstrip("/")
                doc = path.removesuffix(".html")
                if doc in starts:
                    there = next(e for e in entries if e["name"] == doc)
                    _jump(annot, writer, there["anchors"].get(unquote(parts.fragment), there["start"]))
                    counts["internal"] += 1
                elif baseurl:
                    annot[NameObject("/A")][NameObject("/URI")] = TextStringObject(baseurl + path)
                    counts["live"] += 1
                else:
                    counts["dropped"] += 1
                    continue
            keep.append(ref)
        page[NameObject("/Annots")] = keep
    return counts


def _number_pages(writer, browser, tmp: Path, label: str):
    """Stamp ``label · n`` at the foot of every page but the title page (n = the PDF's page number)."""
    n = len(writer.pages)
    page = browser.new_page()
    page.set_content("<!doctype html><html><body style='margin:0'>" +
                     "<div style='break-after: page'>&nbsp;</div>" * n + "</body></html>")
    footer = (f"<div style='width:100%;font-family:DejaVu Sans,sans-serif;font-size:7.5pt;color:#666;"
              f"text-align:center'>{html.escape(label)} &middot; <span class='pageNumber'></span></div>")
    out = tmp / "numbers.pdf"
    page.pdf(path=str(out), format="A4", display_header_footer=True, header_template="<span></span>",
             footer_template=footer, margin=MARGIN)
    page.close()
    stamps = PdfReader(out)
    if len(stamps.pages) != n:
        raise RuntimeError(f"page numbering: {len(stamps.pages)} stamp pages for {n} pages")
    for i in range(1, n):
        writer.pages[i].merge_page(stamps.pages[i])


def make_pdf(html_dir: Path, out: Path, *, student: bool = False, root: Path = ROOT, log=print) -> dict:
    """Print the built site ``html_dir`` (pages of ``root/_toc.yml``) into ``out``; return a summary."""
    html_dir, out = Path(html_dir), Path(out)
    pages = toc_entries(root, student=student)
    missing = [name for _, name, _ in pages if not (html_dir / f"{name}.html").exists()]
    if missing:
        raise SystemExit(f"make_pdf: {html_dir} lacks {len(missing)} of the {len(pages)} pages of _toc.yml "
                         f"(e.g. {missing[0]}.html): build the book first (make book / make student)")
    if not PRINT_CSS.exists():
        raise SystemExit(f"make_pdf: missing print rules {PRINT_CSS}")
    css = PRINT_CSS.read_text(encoding="utf-8")
    cfg = read_config(root)
    online = baseurl()  # BASEURL of `make site`, else html.baseurl; the student book is under student/
    online += ("/student/" if student else "/") if online else ""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    day = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch else \
        datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    server = Server(html_dir)
    entries = []
    try:
        with tempfile.TemporaryDirectory() as tmpname, chromium() as browser:
            tmp = Path(tmpname)
            page = browser.new_page()
            for i, (part, name, depth) in enumerate(pages):
                live = f"{online}{name}.html" if online else f"{name}.html (in the built site)"
                pdf = tmp / f"{i:03d}.pdf"
                info = print_page(page, f"{server.origin}/{name}.html", live, css, pdf)
                n = len(PdfReader(pdf).pages)
                entries.append({"part": part, "name": name, "depth": depth, "pdf": pdf, "pages": n, **info})
                log(f"make_pdf: {name}: {n} pages, {info['typeset']} formulas, {info['widgets']} widgets"
                    + (f", {info['scaled']} wide equations scaled" if info["scaled"] else ""))
            # Front matter: the contents' own length fixes the page numbers it prints.
            title_pdf, contents_pdf = tmp / "title.pdf", tmp / "contents.pdf"
            print_html(page, title_html(cfg, gbml.__version__, student, day.strftime("%d %B %Y")), title_pdf)
            n_contents = 1
            for _ in range(5):
                start = 1 + n_contents
                for e in entries:
                    e["start"], start = start, start + e["pages"]
                got = print_html(page, contents_html(entries), contents_pdf)
                if got == n_contents:
                    break
                n_contents = got
            else:
                raise RuntimeError("make_pdf: the contents pages do not settle on a page count")

            writer = PdfWriter()
            writer.append(title_pdf, import_outline=False)
            writer.append(contents_pdf, import_outline=False)
            writer.add_outline_item(title="Contents", page_number=1)
            parents = {}
            for e in entries:
                writer.append(e["pdf"], import_outline=False)
                parent = None
                if e["part"]:
                    if e["part"] not in parents:
                        parents[e["part"]] = writer.add_outline_item(title=e["part"], page_number=e["start"])
                    parent = parents[e["part"]]
                item = writer.add_outline_item(title=e["title"], page_number=e["start"], parent=parent,
                                               is_open=False)
                reader = PdfReader(e["pdf"])
                e["anchors"] = anchors(reader, e["start"])
                own = reader.outline
                # Chromium's outline of a page is its h1 with the sections below it: keep the sections.
                if len(own) == 2 and not isinstance(own[0], list) and isinstance(own[1], list):
                    own = own[1]
                _copy_outline(writer, reader, own, item, e["start"])
            links = _relink(writer, server.origin, entries, online)
            _number_pages(writer, browser, tmp, str(cfg.get("title", "")))
            writer.add_metadata({"/Title": str(cfg.get("title", "")) + (" (student edition)" if student else ""),
                                 "/Author": str(cfg.get("author", ""))})
            writer.page_mode = "/UseOutlines"
            with open(out, "wb") as fh:
                writer.write(fh)
    finally:
        server.close()
    total = len(PdfReader(out).pages)
    seconds = time.perf_counter() - t0
    log(f"make_pdf: wrote {out} ({total} pages, {seconds:.0f} s; links: {links})")
    entries = [{k: v for k, v in e.items() if k not in ("pdf", "anchors")} for e in entries]
    return {"pages": total, "seconds": seconds, "entries": entries, "links": links}


def _print(job: tuple[Path, Path, bool, Path | None]) -> dict:
    html_dir, out, student, stamp = job
    summary = make_pdf(html_dir, out, student=student)
    if stamp is not None:
        write_stamp(stamp)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, help="a built site to print (default: both editions, when stale)")
    parser.add_argument("--out", type=Path, help="the PDF to write (with --html)")
    parser.add_argument("--student", action="store_true", help="title the PDF as the student edition")
    args = parser.parse_args(argv)
    if args.html or args.out:
        if not (args.html and args.out):
            parser.error("--html and --out go together")
        jobs = [(args.html, args.out, args.student, None)]
    else:
        from . import build, student  # the editions, rebuilt only when older than their sources
        build.ensure_built()
        student.ensure_built()
        jobs = [(html_dir, OUT / name, is_student, STAMPS / f"pdf-{name}")
                for html_dir, name, is_student, edition in
                ((build.HTML, "book.pdf", False, build.STAMP), (student.HTML, "book-student.pdf", True, student.STAMP))
                if not ((OUT / name).exists() and is_fresh(STAMPS / f"pdf-{name}", edition))]
        if not jobs:
            print(f"make pdf: {OUT / 'book.pdf'} and {OUT / 'book-student.pdf'} are up to date")
            return 0
    # The editions print at the same time, one Chromium each.
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(_print, job) for job in jobs]:
            future.result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
