// offerflow's embeddable offer widget. On a page of an origin in the
// ingest's OFFERFLOW_CORS_ORIGINS:
//
//   <div data-offerflow-offer="ofr_..." data-offerflow-token="v1...." data-offerflow-lang="es"></div>
//   <script src="https://offers.example.com/embed/offer.js" async></script>
//
// For each such element it reads the offer (POST /v1/offers/{id}/view with
// the token in the body), shows it with an accept and a decline button,
// and answers with POST /v1/offers/{id}/accept or /decline. Elements are
// built with textContent only (no HTML from the answer is parsed); classes
// start with "offerflow-" for the page's own styles. It fires
// "offerflow:answered" on the element ({detail: {outcome}}) and sets
// data-offerflow-state to what happened.
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  var base = script.src.replace(/\/embed\/offer\.js(?:[?#].*)?$/, '');

  function post(path, body) {
    return fetch(base + path, {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body),
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      cache: 'no-store'
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) {
        return {status: r.status, body: b};
      });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) {
      e.className = 'offerflow-' + cls;
    }
    if (text) {
      e.textContent = text;
    }
    return e;
  }

  function link(url, text) {
    if (!/^https?:\/\//.test(url || '')) {
      return null;
    }
    var a = el('a', 'checkout', text);
    a.href = url;
    a.rel = 'noreferrer noopener';
    return a;
  }

  function state(root, s, outcome) {
    root.setAttribute('data-offerflow-state', s);
    if (outcome) {
      root.dispatchEvent(new CustomEvent('offerflow:answered', {bubbles: true, detail: {outcome: outcome}}));
    }
  }

  function show(root, id, token, lang, intro) {
    root.setAttribute('aria-busy', 'true');
    post('/v1/offers/' + encodeURIComponent(id) + '/view', {token: token, lang: lang}).then(function (res) {
      root.removeAttribute('aria-busy');
      if (res.status !== 200) {
        root.textContent = '';
        state(root, 'unavailable');
        return;
      }
      render(root, res.body, token, lang, intro);
    }, function () {
      root.removeAttribute('aria-busy');
      state(root, 'unavailable');
    });
  }

  function render(root, v, token, lang, intro) {
    var t = v.text || {};
    root.textContent = '';
    var box = el('section', 'offer');
    box.lang = v.lang;
    box.setAttribute('aria-label', v.product_name);
    if (intro) {
      box.appendChild(el('p', 'intro', intro));
    }
    if (t.kind) {
      box.appendChild(el('p', 'kind', t.kind));
    }
    box.appendChild(el('h2', 'title', v.product_name));
    if (v.badge) {
      box.appendChild(el('p', 'badge', v.badge));
    }
    if (v.headline) {
      box.appendChild(el('p', 'headline', v.headline));
    }
    if (t.change_plan) {
      box.appendChild(el('p', 'change-plan', t.change_plan));
    }
    [['gains', v.gains], ['loses', v.loses]].forEach(function (l) {
      if (!l[1] || !l[1].length) {
        return;
      }
      box.appendChild(el('p', l[0] + '-label', t[l[0]]));
      var ul = el('ul', l[0]);
      l[1].forEach(function (f) { ul.appendChild(el('li', '', f)); });
      box.appendChild(ul);
    });
    var rows = [['due-now', t.due_now_label, t.due_now], ['credit', t.credit_label, t.credit],
      ['card', t.card_label, t.card], ['expires', t.expires_label, t.expires]];
    rows.forEach(function (r) {
      if (!r[2]) {
        return;
      }
      var p = el('p', r[0]);
      p.appendChild(el('span', 'label', r[1] + ': '));
      p.appendChild(el('strong', 'value', r[2]));
      box.appendChild(p);
    });
    var status = el('p', 'status');
    status.setAttribute('role', 'status');
    root.appendChild(box);
    if (v.state !== 'open') {
      status.textContent = v.state === 'expired' ? t.expired : t.answered;
      box.appendChild(status);
      state(root, v.state);
      return;
    }
    var accept = el('button', 'accept', t.accept);
    var decline = el('button', 'decline', t.decline);
    accept.type = decline.type = 'button';
    box.appendChild(accept);
    box.appendChild(decline);
    box.appendChild(status);
    state(root, 'open');

    function busy(b, on) {
      accept.disabled = decline.disabled = on;
      if (on) {
        b.setAttribute('data-label', b.textContent);
        b.textContent = t.busy;
      } else if (b.getAttribute('data-label')) {
        b.textContent = b.getAttribute('data-label');
      }
    }
    function refused(res) {
      status.textContent = res.status === 409 ? t.answered : res.status === 410 ? t.expired : t.error;
      return res.status === 409 || res.status === 410;
    }

    accept.addEventListener('click', function () {
      busy(accept, true);
      post('/v1/offers/' + encodeURIComponent(v.id) + '/accept', {token: token}).then(function (res) {
        if (res.status !== 200) {
          if (!refused(res)) {
            busy(accept, false);
          }
          return;
        }
        var out = res.body.outcome, offer = res.body.offer || {}, fb = offer.fallback || {};
        accept.remove();
        decline.remove();
        status.textContent = t[out] || t.pending;
        if (out === 'failed' || out === 'checkout') {
          var a = link(fb.checkout_url, t.checkout_link);
          if (a) {
            box.appendChild(a);
          }
        }
        state(root, out, out);
      }, function () {
        status.textContent = t.error;
        busy(accept, false);
      });
    });

    decline.addEventListener('click', function () {
      busy(decline, true);
      post('/v1/offers/' + encodeURIComponent(v.id) + '/decline', {token: token}).then(function (res) {
        if (res.status !== 200) {
          if (!refused(res)) {
            busy(decline, false);
          }
          return;
        }
        var down = res.body.downsell;
        state(root, 'declined', 'declined');
        if (down && down.id && down.accept_token) {
          show(root, down.id, down.accept_token, lang, t.downsell);
          return;
        }
        accept.remove();
        decline.remove();
        status.textContent = t.declined;
      }, function () {
        status.textContent = t.error;
        busy(decline, false);
      });
    });
  }

  function start() {
    document.querySelectorAll('[data-offerflow-offer]').forEach(function (root) {
      var id = root.getAttribute('data-offerflow-offer');
      var token = root.getAttribute('data-offerflow-token');
      if (id && token && !root.hasAttribute('data-offerflow-state')) {
        show(root, id, token, root.getAttribute('data-offerflow-lang') || navigator.language || '');
      }
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
