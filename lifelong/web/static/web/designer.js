/* The email designer: a list of blocks edited in place, a live preview, save as JSON.
 *
 * The state is one object ({preheader, blocks: [...]}) from the page's json_script. Every
 * edit changes it, redraws the list when blocks move, and (after a pause in typing) posts
 * it to the preview, whose answer is the email rendered on the server for a sample
 * customer: the preview is exactly what is saved and sent, not a copy drawn here.
 * No inline script or handler (CSP): everything is wired below.
 */
(function () {
  "use strict";

  const form = document.getElementById("design-form");
  const list = document.getElementById("blocks");
  if (!form || !list) return;
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  const words = read("designer-strings");
  let design = read("designer-design");
  if (!design || !Array.isArray(design.blocks)) design = { preheader: "", blocks: [] };

  const preheader = document.getElementById("design-preheader");
  const subject = form.querySelector("[name=subject]");
  const field = document.getElementById("design-field");
  const previewForm = document.getElementById("preview-form");

  // What each kind of block holds, and how each field is edited.
  const FIELDS = {
    heading: [["text", "input", words.fields.heading]],
    text: [["text", "textarea", words.fields.text]],
    image: [
      ["url", "input", words.fields.image_url],
      ["alt", "input", words.fields.alt],
      ["link", "input", words.fields.link],
    ],
    button: [
      ["label", "input", words.fields.label],
      ["url", "input", words.fields.url],
    ],
    products: [
      ["source", "select", words.fields.source],
      ["title", "input", words.fields.title],
    ],
    divider: [],
    footer: [
      ["text", "textarea", words.fields.footer],
      ["unsubscribe", "input", words.fields.unsubscribe],
    ],
  };
  const NOTES = { divider: words.divider, footer: words.footer_note, products: words.products_note };
  const EMPTY = {
    heading: { text: "" },
    text: { text: "" },
    image: { url: "", alt: "", link: "" },
    button: { label: "", url: "https://" },
    products: { source: "last_order", title: "" },
    divider: {},
    footer: { text: "", unsubscribe: "" },
  };

  function control(block, index, name, kind, label) {
    const wrap = document.createElement("label");
    wrap.textContent = label;
    let input;
    if (kind === "select") {
      input = document.createElement("select");
      for (const [value, text] of Object.entries(words.sources)) {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = text;
        input.append(option);
      }
    } else {
      input = document.createElement(kind);
      if (kind === "textarea") input.rows = 3;
      else input.type = "text";
    }
    input.value = block[name] ?? "";
    input.dataset.field = name;
    input.addEventListener("input", () => {
      design.blocks[index][name] = input.value;
      changed();
    });
    wrap.append(input);
    return wrap;
  }

  function tool(label, text, action, disabled) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "outline secondary small";
    button.textContent = text;
    button.title = label;
    button.setAttribute("aria-label", label);
    button.dataset.action = action;
    button.disabled = disabled;
    return button;
  }

  function draw() {
    list.replaceChildren();
    if (!design.blocks.length) {
      const empty = document.createElement("li");
      empty.className = "muted designer-empty";
      empty.textContent = words.empty;
      list.append(empty);
    }
    design.blocks.forEach((block, index) => {
      const item = document.createElement("li");
      item.className = "designer-block";
      item.dataset.type = block.type;
      const head = document.createElement("div");
      head.className = "designer-block-head";
      const name = document.createElement("strong");
      name.textContent = words.names[block.type] || block.type;
      const tools = document.createElement("span");
      tools.className = "designer-tools";
      tools.append(
        tool(words.up, "↑", "up", index === 0),
        tool(words.down, "↓", "down", index === design.blocks.length - 1),
        tool(words.remove, "✕", "remove", false),
      );
      head.append(name, tools);
      item.append(head);
      for (const [fieldName, kind, label] of FIELDS[block.type] || []) {
        item.append(control(block, index, fieldName, kind, label));
      }
      if (NOTES[block.type]) {
        const note = document.createElement("p");
        note.className = "muted small";
        note.textContent = NOTES[block.type];
        item.append(note);
      }
      item.addEventListener("click", (event) => {
        const action = event.target.closest("button[data-action]")?.dataset.action;
        if (!action) return;
        const other = action === "up" ? index - 1 : index + 1;
        if (action === "remove") design.blocks.splice(index, 1);
        else [design.blocks[index], design.blocks[other]] = [design.blocks[other], design.blocks[index]];
        draw();
        changed();
        const focus = list.children[action === "remove" ? Math.min(index, design.blocks.length - 1) : other];
        focus?.querySelector("input, textarea, select, button")?.focus();
      });
      list.append(item);
    });
  }

  let timer = 0;
  function changed() {
    field.value = JSON.stringify(design);
    window.clearTimeout(timer);
    timer = window.setTimeout(preview, 400);
  }

  function preview() {
    previewForm.elements.design.value = JSON.stringify(design);
    previewForm.elements.subject.value = subject ? subject.value : "";
    previewForm.submit();
  }

  document.querySelectorAll("[data-add]").forEach((button) => {
    button.addEventListener("click", () => {
      const type = button.dataset.add;
      design.blocks.push({ type, ...structuredClone(EMPTY[type]) });
      draw();
      changed();
      list.lastElementChild?.querySelector("input, textarea, select")?.focus();
    });
  });
  preheader.value = design.preheader || "";
  preheader.addEventListener("input", () => {
    design.preheader = preheader.value;
    changed();
  });
  subject?.addEventListener("input", changed);
  form.addEventListener("submit", () => {
    field.value = JSON.stringify(design);
  });

  // The same email in a phone-wide frame: the 600 px column narrows to fit.
  const frame = document.getElementById("design-preview");
  document.querySelectorAll("[data-width]").forEach((button) => {
    button.addEventListener("click", () => {
      frame.classList.toggle("phone", button.dataset.width === "phone");
      document.querySelectorAll("[data-width]").forEach((other) => {
        other.setAttribute("aria-pressed", String(other === button));
      });
    });
  });

  draw();
  field.value = JSON.stringify(design);
  preview();
})();
