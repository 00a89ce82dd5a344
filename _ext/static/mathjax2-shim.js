/* The ipywidgets HTML manager (embed.js) typesets widget labels with the MathJax 2 call
   MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads MathJax 3, which has no
   Hub.  Give MathJax 3 that one call, done with its own typesetPromise.  Installed once the
   deferred MathJax script has run (DOMContentLoaded), before any widget renders. */
(function () {
  function install() {
    var mj = window.MathJax;
    if (!mj || !mj.version || mj.Hub) return;
    mj.Hub = {
      Queue: function () {
        for (var i = 0; i < arguments.length; i++) {
          var job = arguments[i];
          if (Array.isArray(job) && job[0] === "Typeset" && job[2] instanceof Element) {
            var element = job[2];
            mj.startup.promise.then(function () { return mj.typesetPromise([element]); })
              .catch(function (err) { console.warn("MathJax could not typeset a widget label:", err); });
          }
        }
      }
    };
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", install);
  } else {
    install();
  }
})();
