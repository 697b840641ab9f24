// Today's page: fetch lines newer than the last one shown, every few seconds.
// Without JavaScript a reload shows them; the server renders (and escapes) every line.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !log.dataset.after) { return; }
  var after = log.dataset.after;
  var hide = log.dataset.hide === "1";
  var base = window.location.pathname;
  function poll() {
    var url = base + "?after=" + encodeURIComponent(after) + (hide ? "&hide=1" : "") +
      (new URLSearchParams(window.location.search).get("tz") ?
        "&tz=" + encodeURIComponent(new URLSearchParams(window.location.search).get("tz")) : "");
    fetch(url, {headers: {"Accept": "text/html"}, cache: "no-store"}).then(function (r) {
      if (!r.ok) { return null; }
      var last = r.headers.get("X-Last-Id");
      return r.text().then(function (html) {
        if (last) { after = last; }
        if (html.trim()) {
          var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
          log.insertAdjacentHTML("beforeend", html);
          if (atBottom) { window.scrollTo(0, document.body.scrollHeight); }
        }
      });
    }).catch(function () { /* the next poll tries again */ }).then(function () {
      window.setTimeout(poll, 5000);
    });
  }
  window.setTimeout(poll, 5000);
}());
