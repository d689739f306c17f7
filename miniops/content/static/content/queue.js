// The review queue without the mouse: a key clicks the button that names it.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
    var key = event.key === "Enter" ? "Enter" : event.key.toLowerCase();
    var button = document.querySelector('#review-queue button[data-key="' + key + '"]');
    if (!button) return;
    event.preventDefault();
    button.click();
  });
})();
