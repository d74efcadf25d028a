/* Template editor: the preview's HTML goes into its sandboxed frame by a form post of the
   current fields. The frame then holds a document from its own URL, under the message policy
   (inline styles, no scripts), instead of inheriting this page's stricter one as srcdoc would. */
(function () {
  "use strict";
  var fields = document.getElementById("template-form");
  var controls = document.getElementById("preview-controls");
  var preview = document.getElementById("preview");
  if (!fields || !controls || !preview) { return; }

  function fill(frame) {
    var carrier = document.createElement("form");
    carrier.method = "post";
    carrier.action = frame.dataset.action;
    carrier.target = frame.name;
    carrier.hidden = true;
    var data = new FormData(fields);
    controls.querySelectorAll("[name]").forEach(function (field) { data.append(field.name, field.value); });
    data.forEach(function (value, name) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      carrier.appendChild(input);
    });
    document.body.appendChild(carrier);
    carrier.submit();
    carrier.remove();
  }

  // htmx swaps a new fragment (and so a new, empty frame) in for every render.
  document.addEventListener("htmx:after:settle", function () {
    var frame = preview.querySelector("iframe[data-action]");
    if (frame && !frame.dataset.filled) {
      frame.dataset.filled = "1";
      fill(frame);
    }
  });
})();
