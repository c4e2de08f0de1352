/* fastapi-flare Issues view: "Select all" for the bulk actions, and no auto-refresh of the
 * list while issues are selected (the rest works without JavaScript).
 * Served as a file because the Content-Security-Policy allows no inline script. */
(function () {
  "use strict";

  function boxes(form) {
    return form ? form.querySelectorAll("input[data-select]") : [];
  }

  function sync(root) {
    (root || document).querySelectorAll("[data-select-all-field]").forEach(function (field) {
      field.hidden = false;
      var all = field.querySelector("[data-select-all]");
      var list = boxes(field.closest("form"));
      var checked = Array.prototype.filter.call(list, function (box) {
        return box.checked;
      }).length;
      all.checked = list.length > 0 && checked === list.length;
      all.indeterminate = checked > 0 && checked < list.length;
    });
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!(el instanceof Element)) return;
    if (el.matches("[data-select-all]")) {
      boxes(el.closest("form")).forEach(function (box) {
        box.checked = el.checked;
      });
      sync();
    } else if (el.matches("input[data-select]")) {
      sync();
    }
  });

  function refreshWouldDropSelection(elt, trigger) {
    if (!trigger || trigger.type !== "flare:refresh" || !elt || elt.id !== "issues") return false;
    return elt.querySelector("input[data-select]:checked") !== null;
  }

  // An auto-refresh would replace the rows and drop the user's selection: skip it then.
  document.addEventListener("htmx:confirm", function (event) {
    var detail = event.detail;
    if (detail && refreshWouldDropSelection(detail.elt, detail.triggeringEvent)) event.preventDefault();
  });

  // A refresh already in flight when the user ticked a box must not land either.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var config = detail && detail.requestConfig;
    if (config && refreshWouldDropSelection(detail.elt || config.elt, config.triggeringEvent)) detail.shouldSwap = false;
  });

  document.addEventListener("htmx:afterSettle", function () {
    sync();
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      sync();
    });
  } else {
    sync();
  }
})();
