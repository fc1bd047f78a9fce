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

// Temps de session (RGAA 13.1) : avant la fin de la session, un avertissement propose de
// rester connecté en une action ; chaque échange avec le serveur relance le décompte. Sans
// JavaScript, le pied de page propose le même bouton et le formulaire saisi est rendu
// après la reconnexion.
(function () {
  "use strict";
  // The settings travel with the warning, which every page of a logged-in user carries
  // (htmx's boosted navigation replaces the body's content, not the body).
  var deadline = 0, warnTimer = null, tick = null, returnFocus = null;

  function parts() {
    var box = document.getElementById("session-warning");
    return box && {
      box: box,
      text: box.querySelector("#session-warning-text"),
      countdown: box.querySelector("[data-session-countdown]"),
      form: box.querySelector("[data-keep-alive]")
    };
  }
  function spell(seconds) {
    if (seconds >= 60) {
      var m = Math.round(seconds / 60);
      return m + " minute" + (m > 1 ? "s" : "");
    }
    return seconds + " seconde" + (seconds > 1 ? "s" : "");
  }
  function update() {
    var p = parts();
    if (!p) { return; }
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    if (left > 0) {
      if (p.countdown) { p.countdown.textContent = spell(left); }
      return;
    }
    clearInterval(tick);
    p.text.textContent = p.text.getAttribute("data-expired-text");
    if (p.form) { p.form.hidden = true; }
  }
  function warn() {
    var p = parts();
    if (!p) { return; }
    returnFocus = document.activeElement;
    p.box.hidden = false;
    if (p.form) { p.form.hidden = false; }
    update();
    tick = setInterval(update, 1000);
    var button = p.box.querySelector("button");
    if (button) { button.focus(); }
  }
  function restart() {
    clearTimeout(warnTimer);
    clearInterval(tick);
    var p = parts();
    var idle = p ? parseInt(p.box.getAttribute("data-idle-seconds") || "0", 10) : 0;
    if (!idle) { return; }
    var lead = Math.min(120, idle / 2);
    deadline = Date.now() + idle * 1000;
    warnTimer = setTimeout(warn, Math.max(0, (idle - lead) * 1000));
    if (!p.box.hidden) {
      p.box.hidden = true;
      if (returnFocus && document.body.contains(returnFocus)) { returnFocus.focus(); }
    }
  }
  document.addEventListener("htmx:afterSettle", restart);
  document.addEventListener("htmx:afterRequest", function (evt) {
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (status && status < 400) { restart(); }
  });
  document.addEventListener("DOMContentLoaded", restart);
})();
