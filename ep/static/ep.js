// Espace Partenaires – comportements ajoutés (la page fonctionne sans JavaScript).
// Focus : après un envoi refusé, sur le résumé des erreurs ; après un échange htmx, sur
// l'élément marqué data-focus (message de la ligne mise à jour), sinon, après une
// navigation, sur le titre de la page.
(function () {
  "use strict";
  function focusOn(el) {
    if (!el) { return false; }
    if (!el.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus();
    return true;
  }
  function focusMarked() {
    var marked = document.querySelector("#error-summary, [data-focus]");
    if (marked) { marked.removeAttribute("data-focus"); }
    return focusOn(marked);
  }
  document.addEventListener("DOMContentLoaded", focusMarked);
  document.addEventListener("htmx:afterSettle", function (evt) {
    if (focusMarked()) { return; }
    if (evt.detail.boosted) {
      focusOn(document.querySelector("main h1") || document.getElementById("contenu"));
    }
  });
})();
