(function () {
  "use strict";
  if (!document.getElementById("case-table")) { return; }
  var selects = Array.prototype.slice.call(document.querySelectorAll("#filters select"));
  var bodies = Array.prototype.slice.call(document.querySelectorAll("tbody.case"));
  function setOpen(body, open) {
    var row = body.querySelector("tr.case-row");
    var detail = body.querySelector("tr.case-detail");
    detail.hidden = !open;
    row.setAttribute("aria-expanded", open ? "true" : "false");
  }
  function apply() {
    var shown = 0;
    bodies.forEach(function (body) {
      var visible = selects.every(function (s) {
        return !s.value || body.getAttribute("data-" + s.getAttribute("data-key")) === s.value;
      });
      body.hidden = !visible;
      if (visible) { shown += 1; }
    });
    document.getElementById("shown").textContent = String(shown);
    document.getElementById("none").hidden = shown !== 0;
  }
  function params() {
    var merged = new URLSearchParams(location.search);
    new URLSearchParams(location.hash.replace(/^#/, "")).forEach(function (v, k) { merged.set(k, v); });
    return merged;
  }
  function fromUrl() {
    var p = params();
    selects.forEach(function (s) {
      var wanted = p.get(s.getAttribute("data-key"));
      if (wanted === null) { return; }
      var match = Array.prototype.filter.call(s.options, function (o) {
        return o.value.toLowerCase() === wanted.toLowerCase();
      })[0];
      s.value = match ? match.value : "";
    });
    apply();
    if (p.get("expand")) {
      bodies.forEach(function (b) { if (!b.hidden) { setOpen(b, true); } });
    }
    var open = p.get("case");
    if (open) {
      var body = document.getElementById("case-" + open);
      if (body) { setOpen(body, true); body.scrollIntoView(); }
    }
  }
  function toUrl() {
    var p = new URLSearchParams();
    selects.forEach(function (s) { if (s.value) { p.set(s.getAttribute("data-key"), s.value); } });
    try { history.replaceState(null, "", "#" + p.toString()); } catch (e) { /* file: URLs in some browsers */ }
  }
  selects.forEach(function (s) { s.addEventListener("change", function () { apply(); toUrl(); }); });
  bodies.forEach(function (body) {
    var row = body.querySelector("tr.case-row");
    function toggle() { setOpen(body, body.querySelector("tr.case-detail").hidden); }
    row.addEventListener("click", toggle);
    row.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); }
    });
  });
  document.getElementById("expand").addEventListener("click", function () {
    bodies.forEach(function (b) { if (!b.hidden) { setOpen(b, true); } });
  });
  document.getElementById("collapse").addEventListener("click", function () {
    bodies.forEach(function (b) { setOpen(b, false); });
  });
  window.addEventListener("hashchange", fromUrl);
  fromUrl();
})();
