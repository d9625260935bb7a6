// Enhancement only: the page is complete without this file.
// Reloads the page every minute while it is visible, unless the reader is on a tooltip.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var every = 60000;
  function due() {
    if (document.visibilityState !== "visible") return;
    var el = document.activeElement;
    if (el && el.closest && el.closest("ol.bars")) return;
    window.location.reload();
  }
  window.setInterval(due, every);
})();
