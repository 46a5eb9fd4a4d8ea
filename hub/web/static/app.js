// partnerhub pages: progressive enhancement only; every page works without this file.
(function () {
  "use strict";

  // A form marked data-once cannot be sent twice by a double click (the server is safe anyway).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-once")) return;
    if (form.dataset.sent === "1") { event.preventDefault(); return; }
    form.dataset.sent = "1";
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  });

  // An element with data-poll="<url>" is refreshed from that fragment URL every few seconds.
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var every = parseInt(el.getAttribute("data-poll-every") || "3000", 10);
    var tries = 0;
    function tick() {
      if (tries++ > 1200) return; // bounded: an hour at the default pace
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== el.innerHTML) { el.innerHTML = html; }
        })
        .catch(function () { /* next tick tries again */ })
        .then(function () { window.setTimeout(tick, every); });
    }
    window.setTimeout(tick, every);
  }
  document.querySelectorAll("[data-poll]").forEach(poll);
})();
