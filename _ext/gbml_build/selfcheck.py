"""Self-check questions: the ``{self-check}`` directive (its syntax: CONTRIBUTING.md), one source for the
book, the notebooks and the PDF.

A question is numbered per chapter ("Self-check 2.1").  In the HTML book it is a group of radio buttons
(or a number field and a Check button) that ``_ext/static/self-check.js`` answers at once (no kernel), and
every answer is also listed in a closed ``<details>`` at the chapter's end, which the PDF prints open.  In
the notebook edition it is Markdown, the answer and the reason for every choice folded under it.
"""
from __future__ import annotations

from fractions import Fraction

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

LETTERS = "ABCDEFGH"


class self_check(nodes.General, nodes.Element):
    """The question; attributes ``kind`` ("choice" or "numeric"), ``answer``, ``tolerance``, ``number``."""


class self_check_choice(nodes.General, nodes.Element):
    """One choice: a paragraph (its text) and a ``self_check_explain``; attribute ``correct``."""


class self_check_explain(nodes.General, nodes.Element):
    """Why a choice is right or wrong (or the explanation of a numeric answer)."""


class self_check_answers(nodes.General, nodes.Element):
    """The answers of a chapter's self-checks, at its end."""


def parse_number(text: str) -> Fraction:
    """A decimal or a fraction ("0.25", "-3/2", "1e-3") as an exact Fraction; ValueError otherwise."""
    text = text.strip().replace("\u2212", "-")
    if "/" in text:
        num, den = text.split("/", 1)
        return Fraction(num.strip()) / Fraction(den.strip())
    return Fraction(text)


class SelfCheck(SphinxDirective):
    has_content = True
    option_spec = {"answer": directives.unchanged_required, "tolerance": directives.unchanged_required}

    def run(self):
        node = self_check()
        node["ids"] = [f"self-check-{self.env.new_serialno('self-check') + 1}"]
        self.set_source_info(node)
        body = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, body)
        choices = [c for c in body.children if isinstance(c, self_check_choice)]
        explains = [c for c in body.children if isinstance(c, self_check_explain)]
        question = [c for c in body.children if c not in choices and c not in explains]
        where = f"{self.env.docname}, line {self.lineno}"
        if not question:
            raise self.error(f"self-check ({where}): the question text is missing")
        if "answer" in self.options:
            try:
                answer = parse_number(self.options["answer"])
                tolerance = parse_number(self.options.get("tolerance", "0"))
            except (ValueError, ZeroDivisionError):
                raise self.error(f"self-check ({where}): :answer: and :tolerance: take a number or a fraction "
                                 f"such as 0.25 or 3/2, got {self.options}") from None
            if choices or len(explains) != 1 or tolerance < 0:
                raise self.error(f"self-check ({where}): a numeric question (:answer:) has no {{choice}} blocks, "
                                 "exactly one {explanation} block and a tolerance >= 0")
            node["kind"], node["answer"], node["tolerance"] = "numeric", str(answer), str(tolerance)
            node["answer_text"] = self.options["answer"].strip()
            node["tolerance_text"] = self.options.get("tolerance", "0").strip()
        else:
            if len(choices) < 2 or sum(c["correct"] for c in choices) != 1 or explains:
                raise self.error(f"self-check ({where}): a multiple-choice question has 2 to {len(LETTERS)} "
                                 "{choice} blocks, exactly one of them :correct:, and no {explanation}")
            if len(choices) > len(LETTERS):
                raise self.error(f"self-check ({where}): at most {len(LETTERS)} choices")
            node["kind"] = "choice"
        question_box = nodes.container("", *question, classes=["self-check-question"])
        node += [question_box, *choices, *explains]
        return [node]


class Choice(SphinxDirective):
    """``{choice} text`` inside a ``{self-check}``: ``:correct:`` on the right one; the body explains."""
    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {"correct": directives.flag}

    def run(self):
        if not self.content:
            raise self.error(f"{{choice}} {self.arguments[0]!r} ({self.env.docname}, line {self.lineno}): "
                             "say why this choice is right or wrong in its body")
        text, messages = self.parse_inline(self.arguments[0], lineno=self.lineno)
        explain = self_check_explain()
        self.state.nested_parse(self.content, self.content_offset, explain)
        node = self_check_choice("", nodes.paragraph("", "", *text), explain, correct="correct" in self.options)
        return [node, *messages]


class Explanation(SphinxDirective):
    """``{explanation}`` inside a numeric ``{self-check}``: shown with a right answer, and in the answers."""
    has_content = True

    def run(self):
        node = self_check_explain()
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


# -- numbering, the answers at the end, and the plain form for other builders ------------------------------

def _answer_text(node) -> str:
    if node["kind"] == "numeric":
        tolerance = f" (within {node['tolerance_text']})" if Fraction(node["tolerance"]) else ""
        return node["answer_text"] + tolerance
    choices = [c for c in node.children if isinstance(c, self_check_choice)]
    return next(LETTERS[i] for i, c in enumerate(choices) if c["correct"])


def _answer(head: nodes.paragraph, explain) -> list[nodes.Node]:
    """``head``, then a copy of ``explain``'s content without ids (it is printed twice), its first paragraph
    run into ``head`` ("Self-check 2.1: B. Because ...")."""
    body = [child.deepcopy() for child in explain.children]
    for n in (n for child in body for n in child.findall(nodes.Element)):
        n["ids"] = []
    if body and isinstance(body[0], nodes.paragraph):
        head += body.pop(0).children
    return [head, *body]


def _resolve(app, doctree, docname):
    found = list(doctree.findall(self_check))
    if not found:
        return
    chapter = app.env.toc_secnumbers.get(docname, {}).get("", ())
    prefix = f"{chapter[0]}." if chapter else ""
    for i, node in enumerate(found, 1):
        node["number"] = f"{prefix}{i}"
    if app.builder.format == "html":
        answers = self_check_answers()
        for node in found:
            explain = next(c for c in node.findall(self_check_explain)
                           if isinstance(c.parent, self_check_choice) and c.parent["correct"]
                           or c.parent is node)
            link = nodes.reference("", f"Self-check {node['number']}", refid=node["ids"][0], internal=True)
            head = nodes.paragraph("", "", link, nodes.Text(f": {_answer_text(node)}. "))
            answers += nodes.container("", *_answer(head, explain), classes=["self-check-answer"])
        sections = list(doctree.findall(nodes.section))
        (sections[0] if sections else doctree).append(answers)
        return
    for node in found:  # notebooks: Markdown with the answer folded below the question
        node.replace_self(_plain(app, node))


def _verdict(text: str) -> nodes.paragraph:
    return nodes.paragraph("", "", nodes.strong("", text), nodes.Text(" "))


def _plain(app, node) -> list[nodes.Node]:
    from .notebooks import _END, _START, _TITLE_END  # the notebook edition's fold markers

    question = node.children[0].children
    out = [nodes.paragraph("", "", nodes.strong("", f"Self-check {node['number']}."), ids=list(node["ids"])),
           *[c.deepcopy() for c in question]]
    fold = [nodes.paragraph("", f"{_START}:details:Answer to self-check {node['number']}{_TITLE_END}")]
    if node["kind"] == "choice":
        choices = [c for c in node.children if isinstance(c, self_check_choice)]
        items = nodes.bullet_list()
        for letter, choice in zip(LETTERS, choices):
            items += nodes.list_item("", nodes.paragraph("", "", nodes.strong("", f"{letter}."), nodes.Text(" "),
                                                         *choice.children[0].deepcopy().children))
        out.append(items)
        for letter, choice in zip(LETTERS, choices):
            verdict = f"{letter} is right." if choice["correct"] else f"Not {letter}."
            fold += _answer(_verdict(verdict), choice.children[1])
    else:
        out.append(nodes.paragraph("", "Your answer: a number."))
        fold += _answer(_verdict(f"Answer: {_answer_text(node)}."), node.children[-1])
    fold.append(nodes.paragraph("", _END))
    return out + fold


# -- HTML ----------------------------------------------------------------------------------------------------

def visit_self_check_html(self, node):
    sid = node["ids"][0]
    attrs = {"kind": node["kind"]}
    if node["kind"] == "numeric":
        attrs.update(answer=node["answer"], tolerance=node["tolerance"])
    data = " ".join(f'data-{k}="{self.attval(v)}"' for k, v in attrs.items())
    self.body.append(f'<div class="self-check" id="{sid}" role="group" aria-labelledby="{sid}-title" {data}>\n'
                     f'<p class="self-check-title" id="{sid}-title">Self-check {node["number"]}</p>\n')
    self.body.append(f'<div class="self-check-question" id="{sid}-q">')
    for child in node.children[0].children:
        child.walkabout(self)
    self.body.append("</div>\n")
    if node["kind"] == "choice":
        choices = [c for c in node.children if isinstance(c, self_check_choice)]
        self.body.append(f'<div class="self-check-choices" role="radiogroup" aria-labelledby="{sid}-q">\n')
        for i, choice in enumerate(choices):
            self.body.append(f'<label class="self-check-choice"><input type="radio" name="{sid}" value="{i}" '
                             f'data-correct="{str(choice["correct"]).lower()}"> '
                             f'<span class="self-check-letter">{LETTERS[i]}.</span> <span>')
            for child in choice.children[0].children:
                child.walkabout(self)
            self.body.append("</span></label>\n")
        self.body.append("</div>\n")
        explains = [(str(i), c.children[1]) for i, c in enumerate(choices)]
    else:
        self.body.append(f'<div class="self-check-number"><label for="{sid}-input">Your answer</label> '
                         f'<input type="text" id="{sid}-input" inputmode="decimal" autocomplete="off" '
                         f'spellcheck="false"> <button type="button" class="self-check-submit">Check</button>'
                         '</div>\n')
        explains = [("right", node.children[-1])]
    self.body.append('<div class="self-check-feedback" aria-live="polite">'
                     '<p class="self-check-verdict"></p>\n')
    for key, explain in explains:
        self.body.append(f'<div class="self-check-explain" data-for="{key}" hidden>')
        for child in explain.children:
            child.walkabout(self)
        self.body.append("</div>\n")
    self.body.append("</div></div>\n")
    raise nodes.SkipNode


def visit_self_check_answers_html(self, node):
    self.body.append('<details class="self-check-answers" id="self-check-answers">'
                     "<summary>Answers to the self-checks</summary>\n")


def depart_self_check_answers_html(self, node):
    self.body.append("</details>\n")


def _skip(self, node):
    raise nodes.SkipNode


def _add_script(app, pagename, templatename, context, doctree):
    if doctree is not None and app.builder.format == "html" and next(doctree.findall(self_check), None):
        app.add_js_file("self-check.js", loading_method="defer")


def register(app):
    skip = {builder: (_skip, None) for builder in ("html", "text", "latex", "man", "texinfo")}
    app.add_node(self_check, **{**skip, "html": (visit_self_check_html, None)})
    app.add_node(self_check_choice, **skip)
    app.add_node(self_check_explain, **skip)
    app.add_node(self_check_answers,
                 **{**skip, "html": (visit_self_check_answers_html, depart_self_check_answers_html)})
    app.add_directive("self-check", SelfCheck)
    app.add_directive("choice", Choice)
    app.add_directive("explanation", Explanation)
    app.connect("doctree-resolved", _resolve, priority=400)  # before the notebook build's own passes
    app.connect("html-page-context", _add_script)
