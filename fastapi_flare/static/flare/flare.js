/* fastapi-flare dashboard: auto-refresh, filter forms, the detail dialog, relative times.
 * Served as a file because the Content-Security-Policy allows no inline script. */
(function () {
  "use strict";

  var AUTO_REFRESH_KEY = "flare:auto-refresh";
  // Optional per-browser override of the poll interval in seconds (tests, demos).
  var INTERVAL_KEY = "flare:refresh-seconds";
  var timer = null;
  var lastRefresh = Date.now();
  var opener = null;

  document.documentElement.classList.add("js");

  function store() {
    try {
      return window.localStorage;
    } catch (err) {
      return null;
    }
  }

  function autoRefreshOn() {
    var s = store();
    return !!s && s.getItem(AUTO_REFRESH_KEY) === "on";
  }

  function intervalSeconds() {
    var s = store();
    var override = s ? parseFloat(s.getItem(INTERVAL_KEY) || "") : NaN;
    if (override > 0) return override;
    var configured = parseFloat(document.body.getAttribute("data-refresh-seconds") || "");
    return configured > 0 ? configured : 30;
  }

  function relative(seconds) {
    if (seconds < 5) return "just now";
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }

  function updateRelativeTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime") || "");
      if (!isNaN(at)) el.textContent = relative(Math.max(0, Math.floor((now - at) / 1000)));
    });
  }

  function refresh() {
    lastRefresh = Date.now();
    // Every live region listens with hx-trigger="flare:refresh from:body".
    if (window.htmx) window.htmx.trigger(document.body, "flare:refresh");
  }

  function tick() {
    if (autoRefreshOn() && document.visibilityState === "visible") refresh();
  }

  function schedule() {
    if (timer !== null) window.clearInterval(timer);
    timer = autoRefreshOn() ? window.setInterval(tick, intervalSeconds() * 1000) : null;
  }

  function syncToggle() {
    var box = document.querySelector("[data-auto-refresh]");
    if (box) box.checked = autoRefreshOn();
    var hint = document.querySelector("[data-refresh-hint]");
    if (hint) hint.textContent = "every " + intervalSeconds() + " s";
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!(el instanceof Element)) return;
    if (el.matches("[data-auto-refresh]")) {
      var s = store();
      if (s) s.setItem(AUTO_REFRESH_KEY, el.checked ? "on" : "off");
      schedule();
      if (el.checked) refresh();
      return;
    }
    // Selects apply at once; the search box has its own debounced hx-trigger.
    if (el.matches("form[data-filters] select") && el.form) {
      if (el.form.requestSubmit) el.form.requestSubmit();
      else el.form.submit();
    }
  });

  // Keep pushed URLs canonical: drop empty fields, and fields left at their
  // data-default value, from GET requests (the server applies the same defaults).
  document.addEventListener("htmx:configRequest", function (event) {
    var detail = event.detail;
    if (!detail || detail.verb !== "get" || !detail.formData) return;
    var drop = [];
    detail.formData.forEach(function (value, key) {
      if (value === "") drop.push(key);
    });
    document.querySelectorAll("[data-default][name]").forEach(function (el) {
      if (detail.formData.get(el.name) === el.getAttribute("data-default")) drop.push(el.name);
    });
    drop.forEach(function (key) {
      detail.formData.delete(key);
    });
  });

  // A detail fragment swapped into #modal opens as a modal dialog (Escape closes it).
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "modal") return;
    var dialog = target.querySelector("dialog[data-modal]");
    if (dialog && !dialog.open) {
      opener = event.detail.requestConfig ? event.detail.requestConfig.elt : null;
      dialog.showModal();
    }
  });

  // "close" does not bubble: listen in the capture phase.
  document.addEventListener(
    "close",
    function (event) {
      var el = event.target;
      if (!(el instanceof Element) || !el.matches("dialog[data-modal]")) return;
      var host = document.getElementById("modal");
      if (host) host.replaceChildren();
      if (opener && document.contains(opener)) opener.focus();
      opener = null;
    },
    true
  );

  document.addEventListener("click", function (event) {
    var el = event.target;
    if (!(el instanceof Element)) return;
    // A click on the dialog itself (not its content) is a click on the backdrop.
    if (el.matches("dialog[data-modal]")) {
      el.close();
      return;
    }
    var row = el.closest("tr[data-row]");
    if (!row || el.closest("a, button, input, select, label")) return;
    var selection = window.getSelection ? String(window.getSelection()) : "";
    if (selection) return; // the user is selecting text, not opening the row
    var link = row.querySelector("a.row-link");
    if (link) link.click();
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible" || !autoRefreshOn()) return;
    if (Date.now() - lastRefresh >= intervalSeconds() * 1000) refresh();
  });

  document.addEventListener("htmx:historyRestore", syncToggle);
  document.addEventListener("htmx:afterSettle", updateRelativeTimes);

  function start() {
    syncToggle();
    schedule();
    updateRelativeTimes();
    window.setInterval(updateRelativeTimes, 15000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
