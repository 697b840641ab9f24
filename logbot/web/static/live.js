// Today's page: fetch lines newer than the last one shown, every few seconds.
// Without JavaScript a reload shows them; the server renders (and escapes) every line.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !log.dataset.after) { return; }
  var after = log.dataset.after;
  var hide = log.dataset.hide === "1";
  var base = window.location.pathname;
  var params = new URLSearchParams(window.location.search);
  var full = false;
  function poll() {
    var url = base + "?after=" + encodeURIComponent(after) + (hide ? "&hide=1" : "") +
      (params.get("tz") ? "&tz=" + encodeURIComponent(params.get("tz")) : "") +
      // a day shown in parts: this page is its last part, which a poll fills
      (params.get("part") ? "&part=" + encodeURIComponent(params.get("part")) : "");
    fetch(url, {headers: {"Accept": "text/html"}, cache: "no-store"}).then(function (r) {
      if (!r.ok) { return null; }
      var last = r.headers.get("X-Last-Id");
      var next = r.headers.get("X-Next-Part");
      return r.text().then(function (html) {
        if (last) { after = last; }
        if (html.trim()) {
          var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
          log.insertAdjacentHTML("beforeend", html);
          if (atBottom) { window.scrollTo(0, document.body.scrollHeight); }
        }
        if (next) {
          // this part is full: new lines go on the next part's page
          full = true;
          var p = document.createElement("p");
          var a = document.createElement("a");
          p.className = "live";
          a.href = next;
          a.rel = "nofollow";
          a.textContent = "The day goes on in the next part →";
          p.appendChild(a);
          log.parentNode.insertBefore(p, log.nextSibling);
        }
      });
    }).catch(function () { /* the next poll tries again */ }).then(function () {
      if (!full) { window.setTimeout(poll, 5000); }
    });
  }
  window.setTimeout(poll, 5000);
}());
