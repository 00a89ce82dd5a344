/* Self-check questions ({self-check}, _ext/gbml_build/selfcheck.py): instant feedback in the page, no
   kernel, no network.  A choice shows whether it is right and why; a number is checked against
   data-answer within data-tolerance (decimals or fractions such as 3/2). */
(() => {
  const parse = (text) => {
    const t = text.trim().replace(/\u2212/g, "-").replace(/,/g, ".");
    const num = "\\s*[-+]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?\\s*";
    const m = t.match(new RegExp(`^(${num})(/(${num}))?$`, "i"));
    if (!m) return NaN;
    return m[5] === undefined ? Number(m[1]) : Number(m[1]) / Number(m[5]);
  };
  const frac = (s) => { const [a, b] = s.split("/"); return Number(a) / (b === undefined ? 1 : Number(b)); };
  for (const box of document.querySelectorAll(".self-check")) {
    const verdict = box.querySelector(".self-check-verdict");
    const show = (state, text, key) => {
      box.dataset.state = state;
      verdict.textContent = text;
      box.querySelectorAll(".self-check-explain").forEach((e) => { e.hidden = e.dataset.for !== key; });
    };
    box.querySelectorAll("input[type=radio]").forEach((radio) => radio.addEventListener("change", () => {
      const right = radio.dataset.correct === "true";
      const letter = radio.nextElementSibling.textContent.replace(".", "");
      show(right ? "right" : "wrong", right ? `Correct: ${letter}.` : `Not ${letter}: try another choice.`,
           radio.value);
    }));
    const field = box.querySelector(".self-check-number input");
    if (!field) continue;
    const check = () => {
      const x = parse(field.value);
      if (!Number.isFinite(x)) {
        show("wrong", "Type a number, for example 0.25 or 3/2.", null);
        return;
      }
      const answer = frac(box.dataset.answer), tol = frac(box.dataset.tolerance);
      if (Math.abs(x - answer) <= tol + 1e-12 * Math.max(1, Math.abs(answer))) {
        show("right", `Correct: ${field.value.trim()}.`, "right");
      } else {
        show("wrong", `Not ${field.value.trim()}: it is too ${x > answer ? "large" : "small"}. Try again.`, null);
      }
    };
    box.querySelector(".self-check-submit").addEventListener("click", check);
    field.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); check(); } });
  }
})();
