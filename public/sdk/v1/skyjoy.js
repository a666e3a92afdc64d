/* SkyJoy sign-in SDK v1 for single-page apps — no dependencies, ~4 KB.
 *
 *   <script src="https://PROVIDER/sdk/v1/skyjoy.js"></script>
 *   const sky = SkyJoy.init({ clientId, redirectUri, lang: "vi", onSuccess(claims, tokens) {}, onError(e) {}, onCancel() {} });
 *   sky.renderButton(element);            // "Sign in with SkyJoy": opens the inline dialog
 *   sky.signIn({ mode: "popup" });        // call inside a click handler (popup blockers allow it)
 *
 * Runs the authorization code flow as a public client with PKCE (S256), state and nonce. The
 * sign-in page (/embed) answers by postMessage; this SDK accepts messages only from the
 * provider's origin and from the window it opened, and the provider sends them only to the
 * client's registered origin. The code is exchanged at /token (CORS is open to registered
 * origins only); the ID token comes straight from the provider over TLS, so its claims are
 * used after checking iss, aud, nonce and expiry (OpenID Connect Core §3.1.3.7). */
(function (global) {
  "use strict";
  var script = document.currentScript;
  var PROVIDER = new URL(script ? script.src : "/", location.href).origin;
  var LABELS = { vi: "Đăng nhập với SkyJoy", en: "Sign in with SkyJoy" };

  function b64url(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function random(n) { var a = new Uint8Array(n); crypto.getRandomValues(a); return b64url(a); }
  function decodeJwt(jwt) {
    var p = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    var bin = atob(p + "===".slice((p.length + 3) % 4));
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  function prepare() {
    var verifier = random(32), state = random(16), nonce = random(16);
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (d) {
      return { verifier: verifier, challenge: b64url(new Uint8Array(d)), state: state, nonce: nonce };
    });
  }

  function init(options) {
    if (!options || !options.clientId || !options.redirectUri) throw new Error("SkyJoy.init needs clientId and redirectUri");
    var lang = options.lang === "en" ? "en" : "vi";
    var ready = null, prepared = null, active = null;
    function refill() { ready = prepare().then(function (p) { prepared = p; return p; }); }
    refill();

    function embedUrl(p, action) {
      var q = new URLSearchParams({
        client_id: options.clientId, redirect_uri: options.redirectUri, action: action || options.action || "signin",
        lang: lang, scope: options.scope || "openid profile phone email dob", state: p.state, nonce: p.nonce,
        code_challenge: p.challenge, code_challenge_method: "S256"
      });
      return PROVIDER + "/embed?" + q.toString();
    }

    function close() {
      if (!active) return;
      window.removeEventListener("message", active.listener);
      if (active.overlay) active.overlay.remove();
      if (active.popup && !active.popup.closed) active.popup.close();
      clearInterval(active.watch);
      active = null;
    }

    function fail(e) { close(); if (options.onError) options.onError(e); }

    function exchange(p, code) {
      var body = new URLSearchParams({
        grant_type: "authorization_code", code: code, redirect_uri: options.redirectUri,
        client_id: options.clientId, code_verifier: p.verifier
      });
      return fetch(PROVIDER + "/token?client_id=" + encodeURIComponent(options.clientId), { method: "POST", body: body, credentials: "omit" })
        .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw j; return j; }); })
        .then(function (tokens) {
          var c = decodeJwt(tokens.id_token);
          var aud = Array.isArray(c.aud) ? c.aud : [c.aud];
          if (c.iss !== PROVIDER || aud.indexOf(options.clientId) < 0 || c.nonce !== p.nonce || c.exp * 1000 < Date.now())
            throw { error: "invalid_id_token" };
          return { claims: c, tokens: tokens };
        });
    }

    function listen(p, source) {
      return function (ev) {
        if (ev.origin !== PROVIDER || !active || ev.source !== source()) return;
        var m = ev.data;
        if (!m || m.source !== "skyjoy" || m.version !== 1) return;
        if (m.type === "resize" && active.frame) active.frame.style.height = Math.min(m.height, window.innerHeight - 32) + "px";
        if (m.type === "cancel") { close(); if (options.onCancel) options.onCancel(); }
        if (m.type === "error") fail(m);
        if (m.type === "success") {
          if (m.state !== p.state) return fail({ error: "state_mismatch" });
          close();
          exchange(p, m.code).then(function (r) { if (options.onSuccess) options.onSuccess(r.claims, r.tokens); }, fail);
        }
      };
    }

    function openDialog(p, action) {
      var overlay = document.createElement("div");
      overlay.setAttribute("data-skyjoy", "dialog");
      overlay.style.cssText = "position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:2147483647";
      var box = document.createElement("div");
      box.style.cssText = "background:#fff;border-radius:12px;width:min(420px,calc(100vw - 16px));position:relative;overflow:hidden";
      var x = document.createElement("button");
      x.type = "button"; x.textContent = "×"; x.setAttribute("aria-label", lang === "en" ? "Close" : "Đóng");
      x.style.cssText = "position:absolute;top:4px;right:4px;border:0;background:none;font-size:24px;cursor:pointer;min-width:44px;min-height:44px";
      var frame = document.createElement("iframe");
      frame.title = "SkyJoy"; frame.src = embedUrl(p, action);
      frame.style.cssText = "border:0;width:100%;height:520px;display:block";
      box.appendChild(frame); box.appendChild(x); overlay.appendChild(box); document.body.appendChild(overlay);
      active = { overlay: overlay, frame: frame };
      active.listener = listen(p, function () { return frame.contentWindow; });
      x.addEventListener("click", function () { close(); if (options.onCancel) options.onCancel(); });
      window.addEventListener("message", active.listener);
    }

    function openPopup(p, action, popup) {
      var w = popup || window.open(embedUrl(p, action), "skyjoy", "popup,width=440,height=640");
      if (!w) return fail({ error: "popup_blocked" });
      if (popup) w.location.href = embedUrl(p, action);
      active = { popup: w };
      active.listener = listen(p, function () { return w; });
      window.addEventListener("message", active.listener);
      active.watch = setInterval(function () { if (w.closed) { close(); if (options.onCancel) options.onCancel(); } }, 500);
    }

    function signIn(opts) {
      opts = opts || {};
      close();
      var mode = opts.mode === "popup" ? "popup" : "dialog";
      var p = prepared; prepared = null;
      if (p) { refill(); return mode === "popup" ? openPopup(p, opts.action) : openDialog(p, opts.action); }
      // Not prepared yet: open the popup now (still inside the click), point it once ready.
      var blank = mode === "popup" ? window.open("about:blank", "skyjoy", "popup,width=440,height=640") : null;
      ready.then(function (q) { prepared = null; refill(); return mode === "popup" ? openPopup(q, opts.action, blank) : openDialog(q, opts.action); });
    }

    function renderButton(el, opts) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = (opts && opts.label) || LABELS[lang];
      b.setAttribute("data-skyjoy", "button");
      b.style.cssText = "min-height:44px;padding:0 16px;border-radius:8px;border:0;background:#0b5cff;color:#fff;font:inherit;font-weight:600;cursor:pointer";
      b.addEventListener("click", function () { signIn({ mode: (opts && opts.mode) || "dialog" }); });
      el.appendChild(b);
      return b;
    }

    return { signIn: signIn, renderButton: renderButton, close: close };
  }

  global.SkyJoy = { init: init, version: 1 };
})(window);
