// Espace Partenaires – comportements ajoutés par htmx (la page fonctionne sans).
// Après un échange htmx, le focus va au résumé d'erreurs s'il y en a, sinon à l'élément
// marqué data-focus dans le contenu remplacé, sinon (navigation) au titre de la page.
(function () {
  "use strict";
  function focusOn(el) {
    if (!el) { return; }
    if (!el.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus({ preventScroll: false });
  }
  document.addEventListener("htmx:afterSettle", function (evt) {
    var target = evt.detail.target || document.body;
    var summary = target.querySelector("#error-summary") || document.getElementById("error-summary");
    if (summary) { focusOn(summary); return; }
    var marked = target.querySelector("[data-focus]");
    if (marked) { focusOn(marked); return; }
    if (evt.detail.boosted || target === document.body) {
      focusOn(document.querySelector("main h1") || document.getElementById("contenu"));
    }
  });
})();
