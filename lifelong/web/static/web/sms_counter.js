/* SMS segment counter under the template editor's SMS texts: counts as one types, the same
   way as lifelong/messaging/sms_segments.py (a browser test compares the two).
   GSM-7: 160 places in one SMS, 153 per part; the extension characters take two places.
   Any other character (Cyrillic, emoji) makes the whole text UCS-2: 70 places, 67 per part,
   a character outside the BMP taking two. A pair never splits across two parts. */
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "\f^{}\\[~]|€";

  function smsCount(text) {
    text = text.replace(/\r\n/g, "\n");
    var chars = Array.from(text);  // code points: an emoji is one character here
    var gsm = chars.every(function (ch) { return BASIC.indexOf(ch) >= 0 || EXTENSION.indexOf(ch) >= 0; });
    var places = chars.map(function (ch) {
      if (gsm) { return EXTENSION.indexOf(ch) >= 0 ? 2 : 1; }
      return ch.codePointAt(0) > 0xFFFF ? 2 : 1;
    });
    var single = gsm ? 160 : 70;
    var each = gsm ? 153 : 67;
    var length = places.reduce(function (a, b) { return a + b; }, 0);
    if (length <= single) {
      return { encoding: gsm ? "gsm7" : "ucs2", length: length, segments: text ? 1 : 0, left: single - length };
    }
    var segments = 1;
    var used = 0;
    places.forEach(function (size) {
      if (used + size > each) { segments += 1; used = 0; }
      used += size;
    });
    return { encoding: gsm ? "gsm7" : "ucs2", length: length, segments: segments, left: each - used };
  }
  window.lifelongSmsCount = smsCount;

  function show(box, field) {
    var count = smsCount(field.value);
    ["length", "segments", "left"].forEach(function (part) {
      var slot = box.querySelector('[data-sms="' + part + '"]');
      if (slot) { slot.textContent = String(count[part]); }
    });
    box.querySelectorAll("[data-sms-encoding]").forEach(function (note) {
      note.hidden = note.dataset.smsEncoding !== count.encoding;
    });
  }

  // The server's count for the sample customer is of the text as loaded: once it is edited,
  // a text with variables points at the preview instead.
  function edited(box, field) {
    var sample = box.querySelector("[data-sms-sample]");
    if (sample) { sample.hidden = true; }
    var variables = box.querySelector("[data-sms-variables]");
    if (variables) { variables.hidden = !/\{[{%]/.test(field.value); }
  }

  document.querySelectorAll("[data-sms-count-for]").forEach(function (box) {
    var field = document.getElementById(box.dataset.smsCountFor);
    if (!field) { return; }
    field.addEventListener("input", function () { show(box, field); edited(box, field); });
    show(box, field);
  });
})();
