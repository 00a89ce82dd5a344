"""Self-check questions ({self-check}, _ext/gbml_build/selfcheck.py) in the three editions.

* the built book: every chapter 1-9 has at least two, each listed in its chapter's answers at the end;
* Chromium: a wrong and a right answer (clicked, typed, and chosen with the keyboard) get the right
  feedback at once, with no request leaving 127.0.0.1;
* the notebook edition: each question is Markdown with its lettered choices and a folded answer;
* the print view (gbml_build.pdf's own page printer, text read back with pypdf): the questions print
  without their feedback, and the answers print at the chapter's end.

The book is built once per session and served once (fixtures ``site`` and ``browser`` in conftest.py).
"""
from __future__ import annotations

import re

import nbformat
import pytest
from booksupport import built_notebooks, toc_files
from pypdf import PdfReader

CHAPTERS = [n for n in toc_files() if re.fullmatch(r"chapters/0[1-9]_\w+", n)]
PAGE = "chapters/04_anil"  # multiple-choice and numeric questions


def _article(html, name) -> str:
    text = (html / f"{name}.html").read_text(encoding="utf-8")
    return text[text.find("<article"):text.find("</article>")]


def test_chapters_one_to_nine_are_all_there():
    assert len(CHAPTERS) == 9


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_has_self_checks_answered_at_its_end(site, name):
    _, html = site
    article = _article(html, name)
    number = int(name.split("/")[1][:2])
    questions = re.findall(r'<div class="self-check" id="([\w-]+)"', article)
    assert len(questions) >= 2, f"{name}: {len(questions)} self-check questions"
    titles = re.findall(r'<p class="self-check-title" id="[\w-]+">Self-check ([\d.]+)</p>', article)
    assert titles == [f"{number}.{i}" for i in range(1, len(questions) + 1)]
    answers = article[article.index('<details class="self-check-answers"'):]
    assert article.rindex("<section") < article.index('<details class="self-check-answers"'), \
        "the answers come after the chapter's last section"
    linked = re.findall(r'<a class="reference internal" href="#([\w-]+)">Self-check ([\d.]+)</a>: ', answers)
    assert linked == list(zip(questions, titles))


def _ready(page):
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => document.querySelectorAll('.math mjx-container').length"
                           " >= document.querySelectorAll('.math').length", timeout=30000)


def _shown(box) -> list[str]:
    """data-for of the explanations that are visible in a question's feedback."""
    return box.evaluate("b => [...b.querySelectorAll('.self-check-explain')]"
                        ".filter(e => e.checkVisibility()).map(e => e.dataset.for)")


def test_feedback_in_the_browser_without_network(site, browser):
    server, _ = site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.origin}/{PAGE}.html", wait_until="load")
    _ready(page)
    assert page.locator(".self-check .math").count() > 0
    assert page.locator(".self-check .math:not(:has(mjx-container))").count() == 0, "math not typeset"

    # Multiple choice: a wrong choice, then the right one (chapter 4's first question: B is right).
    box = page.locator(".self-check[data-kind=choice]").first
    box.scroll_into_view_if_needed()
    verdict = box.locator(".self-check-verdict")
    assert verdict.inner_text() == "" and _shown(box) == []
    box.locator("label.self-check-choice").nth(0).click()
    assert box.get_attribute("data-state") == "wrong"
    assert verdict.inner_text() == "Not A: try another choice."
    assert _shown(box) == ["0"]
    assert "second-order term" in box.locator(".self-check-feedback").inner_text()
    box.locator("label.self-check-choice").nth(1).click()
    assert box.get_attribute("data-state") == "right"
    assert verdict.inner_text() == "Correct: B."
    assert _shown(box) == ["1"]
    assert box.locator(".self-check-feedback").get_attribute("aria-live") == "polite"

    # The keyboard alone: arrow keys move through the choices and give their feedback.
    box.locator("input:checked").focus()
    page.keyboard.press("ArrowDown")
    assert box.get_attribute("data-state") == "wrong" and verdict.inner_text().startswith("Not C")

    # Numeric: rho = 1 - 0.1 * 2 * 0.25 = 0.95, typed as a decimal or a fraction, checked with Enter or the button.
    box = page.locator(".self-check[data-kind=numeric]").first
    field, check = box.locator("input"), box.locator("button.self-check-submit")
    verdict = box.locator(".self-check-verdict")
    field.fill("0.9")
    check.click()
    assert box.get_attribute("data-state") == "wrong" and verdict.inner_text() == \
        "Not 0.9: it is too small. Try again."
    assert _shown(box) == []
    field.fill("rho")
    field.press("Enter")
    assert verdict.inner_text() == "Type a number, for example 0.25 or 3/2."
    field.fill("19/20")
    field.press("Enter")
    assert box.get_attribute("data-state") == "right" and verdict.inner_text() == "Correct: 19/20."
    assert _shown(box) == ["right"]
    field.fill("0.96")
    check.focus()
    page.keyboard.press("Enter")
    assert box.get_attribute("data-state") == "wrong" and "too large" in verdict.inner_text()

    outside = [u for u in requests if not (u.startswith(server.origin) or u.startswith("data:"))]
    assert not outside, f"requests left the local server: {outside}"
    assert not errors, errors
    context.close()


@pytest.mark.build
def test_notebook_edition_asks_and_folds_the_answer():
    out = built_notebooks()
    for edition in ("full", "student"):
        for name in CHAPTERS:
            nb = nbformat.read(out / edition / f"{name.split('/')[1]}.ipynb", as_version=4)
            text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
            number = int(name.split("/")[1][:2])
            found = re.findall(r"^\*\*Self-check ([\d.]+)\.\*\*", text, re.M)
            assert len(found) >= 2 and found == [f"{number}.{i}" for i in range(1, len(found) + 1)], (edition, name)
            for label in found:
                question = text[text.index(f"**Self-check {label}.**"):]
                fold = f"<details>\n<summary><b>Answer to self-check {label}</b></summary>"
                assert fold in question, (edition, name, label)
                asked, answer = question.split(fold, 1)
                answer = answer[:answer.index("</details>")]
                assert "<details>" not in asked and asked.strip().count("\n") >= 2
                if re.search(r"^- \*\*A\.\*\* ", asked, re.M):  # multiple choice: each choice, then why
                    letters = re.findall(r"^- \*\*([A-H])\.\*\* ", asked, re.M)
                    assert letters == list("ABCDEFGH"[:len(letters)]) and len(letters) >= 2
                    verdicts = re.findall(r"\*\*(?:Not ([A-H])\.|([A-H]) is right\.)", answer)
                    assert [a or b for a, b in verdicts] == letters
                    assert sum(bool(b) for _, b in verdicts) == 1
                else:
                    assert "Your answer: a number." in asked and re.search(r"\*\*Answer: [-\d./]+", answer)
    # One worked case, checked by hand: chapter 4's first question, whose right choice is B.
    nb = nbformat.read(out / "full" / "04_anil.ipynb", as_version=4)
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    first = text[text.index("**Self-check 4.1.**"):text.index("**Self-check 4.2.**")]
    assert "**B is right.**" in first and "**Not A.**" in first and "**Not C.**" in first
    assert "**Answer: 0.95 (within 0.0005).**" in text


def test_print_view_has_questions_in_place_and_answers_at_the_chapter_end(site, browser, tmp_path):
    """gbml_build.pdf's printer on one chapter; the text of the PDF read back with pypdf."""
    from gbml_build import pdf as make_pdf

    server, _ = site
    page = browser.new_page()
    css = make_pdf.PRINT_CSS.read_text(encoding="utf-8")
    pdf = tmp_path / "chapter.pdf"
    make_pdf.print_page(page, f"{server.origin}/{PAGE}.html", "live", css, pdf)
    page.close()
    text = " ".join("\n".join(p.extract_text() for p in PdfReader(pdf).pages).split())
    titles = [m.start() for m in re.finditer(r"Self-check 4\.\d(?!:)", text)]
    answers_at = text.find("Answers to the self-checks")
    assert len(titles) >= 2 and answers_at > max(titles) > 0, "questions, then the answers at the end"
    assert text.find("Exercises") < answers_at, "the answers come after the chapter's exercises"
    answers = text[answers_at:]
    assert "Self-check 4.1: B." in answers and "Self-check 4.2: 0.95 (within 0.0005)." in answers
    body = text[:answers_at]
    # Explanations print once, in the answers: the right choice's at the end, a wrong choice's nowhere.
    assert text.count("one shared head and a rank-one correction") == 1 and \
        "one shared head and a rank-one correction" in answers
    assert "FO-ANIL has no second-order term" not in text
    assert "A. Because its exact gradient" in body and "Your answer" in body
