/* SkyJoy sign-in frame bridge, v1. Loaded by the sign-in page when it runs inside a partner's
 * iFrame (or the SDK's popup). Sends versioned events to the partner page, always to the exact
 * registered origin the server put in #skyjoy-embed[data-parent-origin], never to "*":
 *   {source:"skyjoy", version:1, type:"ready"}
 *   {source:"skyjoy", version:1, type:"resize", height}
 *   {source:"skyjoy", version:1, type:"success", code, state}
 *   {source:"skyjoy", version:1, type:"cancel", state}
 *   {source:"skyjoy", version:1, type:"error", error, error_description, state}
 * Safe to load twice (the page may re-render it). */
(function () {
  "use strict";
  if (window.__skyjoyBridge) return;
  window.__skyjoyBridge = true;
  var target = window.parent !== window ? window.parent : window.opener;
  if (!target) return;
  var sentResult = false;
  var lastHeight = 0;

  function embedInfo() {
    var el = document.getElementById("skyjoy-embed");
    if (el) return { origin: el.getAttribute("data-parent-origin"), state: el.getAttribute("data-state") };
    var meta = document.querySelector('meta[name="skyjoy-parent-origin"]');
    return { origin: meta && meta.getAttribute("content"), state: null };
  }

  function post(type, fields) {
    var info = embedInfo();
    if (!info.origin) return;
    var message = { source: "skyjoy", version: 1, type: type };
    for (var k in fields) if (Object.prototype.hasOwnProperty.call(fields, k)) message[k] = fields[k];
    target.postMessage(message, info.origin);
  }

  function checkResult() {
    var el = document.getElementById("skyjoy-result");
    if (!el || sentResult) return;
    var data;
    try { data = JSON.parse(el.getAttribute("data-message")); } catch (e) { return; }
    sentResult = true;
    var type = data.type;
    delete data.type; delete data.source; delete data.version;
    post(type, data);
  }

  function checkHeight() {
    var h = Math.ceil(document.documentElement.scrollHeight);
    if (h !== lastHeight) { lastHeight = h; post("resize", { height: h }); }
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target && ev.target.closest ? ev.target.closest("[data-skyjoy-cancel]") : null;
    if (!el) return;
    ev.preventDefault();
    post("cancel", { state: embedInfo().state });
  });

  function start() {
    post("ready", {});
    checkHeight();
    checkResult();
    if (window.ResizeObserver) new ResizeObserver(checkHeight).observe(document.documentElement);
    new MutationObserver(function () { checkResult(); checkHeight(); })
      .observe(document.body, { childList: true, subtree: true, attributes: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
