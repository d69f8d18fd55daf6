// The offer page works without this script. With it, the first answer
// sent disables every answer button, so a double click sends one request
// (the server charges once whatever arrives; this spares the customer a
// second page), and the clicked button says it is working.
(function () {
  'use strict';
  var sent = false;
  document.addEventListener('submit', function (ev) {
    if (sent) {
      ev.preventDefault();
      return;
    }
    sent = true;
    var clicked = ev.submitter;
    // After the submission has its data: a disabled control is not sent.
    setTimeout(function () {
      document.querySelectorAll('form.answer button').forEach(function (b) {
        b.disabled = true;
        if (b === clicked && b.dataset.busy) {
          b.dataset.label = b.textContent;
          b.textContent = b.dataset.busy;
        }
      });
    }, 0);
  });
  // Back to the page from the history cache: the buttons work again, and
  // the server says if the offer was answered meanwhile.
  window.addEventListener('pageshow', function (ev) {
    if (!ev.persisted) {
      return;
    }
    sent = false;
    document.querySelectorAll('form.answer button').forEach(function (b) {
      b.disabled = false;
      if (b.dataset.label) {
        b.textContent = b.dataset.label;
      }
    });
  });
})();
