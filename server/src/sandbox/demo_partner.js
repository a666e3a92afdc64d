// The demo shop's own browser code, served as /demo.js (server/src/sandbox/demo_partner.rs).
// The iFrame page listens to the SkyJoy frame's messages and completes the sign-in through the
// shop's server; the single-page app drives SkyJoy's SDK as a public client. What differs per
// page (the provider's origin, the client id, the redirect URI) comes in data- attributes.
(() => {
  const frame = document.getElementById('skyjoy');
  if (frame) iframePage(frame);
  const button = document.getElementById('skyjoy-button');
  if (button) spaPage(button);

  function iframePage(frame) {
    const provider = frame.dataset.providerOrigin;
    const log = document.querySelector('[data-testid=demo-events]');
    const result = document.getElementById('result');
    window.addEventListener('message', async (ev) => {
      if (ev.origin !== provider || ev.source !== frame.contentWindow) return;
      const m = ev.data;
      if (!m || m.source !== 'skyjoy' || m.version !== 1) return;
      log.textContent += m.type + ' ';
      if (m.type === 'resize') frame.style.height = Math.max(420, m.height) + 'px';
      if (m.type === 'success') {
        const res = await fetch('/iframe/complete', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ code: m.code, state: m.state }),
        });
        const user = await res.json();
        frame.remove();
        result.innerHTML = res.ok
          ? '<p data-testid=demo-iframe-user>Signed in as <strong data-testid=demo-name></strong></p>'
          : '<p data-testid=demo-error></p>';
        (document.querySelector('[data-testid=demo-name]') || document.querySelector('[data-testid=demo-error]')).textContent =
          res.ok ? user.name : JSON.stringify(user);
      }
      if (m.type === 'cancel' || m.type === 'error') result.textContent = 'SkyJoy: ' + m.type;
    });
  }

  function spaPage(button) {
    const out = document.getElementById('spa-result');
    const show = (claims) => { out.textContent = 'Signed in as ' + claims.name + ' (' + claims.skyjoy_id + ')'; };
    const fail = (err) => { out.textContent = 'SkyJoy: ' + (err.error || err.type || err); };
    const sky = SkyJoy.init({ clientId: button.dataset.clientId, redirectUri: button.dataset.redirectUri, lang: 'en', onSuccess: show, onError: fail });
    sky.renderButton(button);
    document.getElementById('popup').addEventListener('click', () => sky.signIn({ mode: 'popup' }));
  }
})();
