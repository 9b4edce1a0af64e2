/* The store dashboard refreshes itself every minute without reloading the page:
   it fetches the same figures as JSON, each panel already rendered by the
   server, and swaps the panels in. Served by the project (no CDN); loaded as a
   file, as the Content-Security-Policy allows no inline script. */
(function () {
  "use strict";

  function refresh(root) {
    var url = root.getAttribute("data-url");
    return fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("dashboard refresh answered " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        Object.keys(data.panels).forEach(function (name) {
          var panel = root.querySelector('[data-panel="' + name + '"]');
          if (panel) {
            panel.innerHTML = data.panels[name];
          }
        });
        var stamp = root.querySelector("[data-updated]");
        if (stamp && data.figures && data.figures.now) {
          stamp.textContent = data.figures.now.slice(11, 16);
        }
        root.setAttribute("data-refreshed", String(Date.now()));
        root.classList.remove("stale");
      })
      .catch(function () {
        root.classList.add("stale");
      });
  }

  function start() {
    var root = document.getElementById("dashboard");
    if (!root) {
      return;
    }
    var seconds = parseInt(root.getAttribute("data-refresh-seconds"), 10) || 60;
    window.setInterval(function () {
      refresh(root);
    }, seconds * 1000);
    root.hemaRefresh = function () {
      return refresh(root);
    };
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
