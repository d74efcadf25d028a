/* The journey builder's side panel: the selected step's settings, with pickers.
 *
 * Each control writes its value into the step and calls `changed`, which stores the graph in
 * the form's fields and draws again. The words and the pickers' choices come from the page's
 * data (see journey_canvas.js and web/journey_canvas.py). */

/* One common check as a rule with a single condition; anything else is the JSON below. */
export const QUICK = {
  orders: (v) => ({ kind: "summary", field: "orders_count", op: "gte", value: Number(v) || 1 }),
  bought: (v) => ({ kind: "bought", sku: v }),
  event: (v) => ({ kind: "event", type: v, within_days: 30 }),
  tag: (v) => ({ kind: "tag", tag: v }),
};
export function quickOf(rule) {
  const only = rule && rule.op === "and" && (rule.rules || []).length === 1 ? rule.rules[0] : null;
  if (!only) return null;
  if (only.kind === "summary" && only.field === "orders_count" && only.op === "gte") return ["orders", String(only.value)];
  if (only.kind === "bought" && only.sku && !only.within_days) return ["bought", only.sku];
  if (only.kind === "event" && only.within_days === 30) return ["event", only.type];
  if (only.kind === "tag") return ["tag", only.tag];
  return null;
}

/* The panel's builders over the canvas's helpers and graph. */
export function panelFor(api) {
  const { el, T, P, changed, template, duration, ports, exitOf, exitSet, nodes, title } = api;

  function labelled(text, control) {
    return el("label", { className: "jc-field" }, [el("span", { text: text }), control]);
  }
  function input(node, key, attrs, parse) {
    const control = el("input", Object.assign({ name: "jc-" + key }, attrs));
    control.value = node[key] == null ? "" : node[key];
    control.addEventListener("change", () => {
      const value = parse ? parse(control.value) : control.value;
      if (value === null || value === "") delete node[key]; else node[key] = value;
      changed(node);
    });
    return control;
  }
  const number = (v) => (v === "" ? null : Number(v));
  function select_(node, key, choices, empty, parse) {
    const control = el("select", { name: "jc-" + key });
    if (empty) control.append(el("option", { value: "", text: T.choose }));
    choices.forEach(([value, text]) => control.append(el("option", { value: value, text: text })));
    control.value = node[key] == null ? "" : String(node[key]);
    control.addEventListener("change", () => {
      const value = parse ? parse(control.value) : control.value;
      if (value === null || value === "") delete node[key]; else node[key] = value;
      changed(node);
    });
    return control;
  }
  function templatePicker(node) {
    const choices = (P.templates || []).map((t) => [t.slug, t.name + " · " + t.channel_name]);
    const control = select_(node, "template", choices, true);
    control.addEventListener("change", () => {
      // A template that cannot go by the chosen channel switches the step to its own.
      const t = template(node.template);
      if (t && node.channel !== t.channel && !t.sends_on.includes(node.channel)) {
        node.channel = t.channel;
        changed(node);
      }
    }, { once: true });
    return control;
  }
  function presets(list, apply) {
    return el("div", { className: "jc-presets", role: "group", "aria-label": T.presets },
      list.map((p) => {
        const button = el("button", { type: "button", className: "outline secondary", text: p.label, "data-preset": p.label });
        button.addEventListener("click", () => apply(p));
        return button;
      }));
  }
  function fieldsFor(node) {
    const out = [];
    switch (node.type) {
      case "wait":
        out.push(presets(P.wait_presets || [], (p) => {
          node.days = p.days; node.hours = p.hours;
          if (!node.hours) delete node.hours;
          if (!node.days) delete node.days;
          changed(node);
        }));
        out.push(el("div", { className: "jc-row" }, [
          labelled(T.days_field, input(node, "days", { type: "number", min: 0, max: 366 }, number)),
          labelled(T.hours_field, input(node, "hours", { type: "number", min: 0, step: "any" }, number)),
        ]));
        out.push(labelled(T.until_time, input(node, "until_time", { type: "time" })));
        break;
      case "wait_event": {
        const box = el("div", { className: "jc-checks" });
        (P.events || []).forEach(([value, text]) => {
          const check = el("input", { type: "checkbox", value: value, checked: (node.events || []).includes(value) });
          check.addEventListener("change", () => {
            const chosen = new Set(node.events || []);
            if (check.checked) chosen.add(value); else chosen.delete(value);
            node.events = [...chosen];
            changed(node);
          });
          box.append(el("label", {}, [check, " " + text]));
        });
        out.push(el("fieldset", {}, [el("legend", { text: T.events }), box]));
        out.push(presets([24, 72, 168].map((h) => ({ label: duration(0, h), hours: h })), (p) => {
          node.timeout_hours = p.hours; changed(node);
        }));
        out.push(labelled(T.timeout_hours, input(node, "timeout_hours", { type: "number", min: 1, step: "any" }, number)));
        break;
      }
      case "condition": {
        out.push(...quickRule(node));
        out.push(labelled(T.segment, select_(node, "in_segment", P.segments || [], true, number)));
        const rule = el("textarea", { name: "jc-rule", rows: 5, className: "json", spellcheck: "false" });
        rule.value = JSON.stringify(node.rule || { op: "and", rules: [] }, null, 1);
        rule.addEventListener("change", () => {
          try { node.rule = JSON.parse(rule.value); rule.removeAttribute("aria-invalid"); changed(node); } catch (_e) { rule.setAttribute("aria-invalid", "true"); rule.title = T.bad_rule; }
        });
        out.push(labelled(T.rule, rule));
        break;
      }
      case "split": {
        const rows = node.branches.map((b, i) => {
          const weight = el("input", { type: "number", min: 1, max: 1000, name: "jc-weight-" + i });
          weight.value = b.weight;
          weight.addEventListener("change", () => { b.weight = Number(weight.value) || 1; changed(node); });
          const name = el("input", { type: "text", name: "jc-branch-" + i, placeholder: String.fromCharCode(65 + i) });
          name.value = b.label || "";
          name.addEventListener("change", () => { b.label = name.value; changed(node); });
          return el("div", { className: "jc-row" }, [name, weight]);
        });
        const more = el("button", { type: "button", className: "outline secondary", text: T.add_branch });
        more.addEventListener("click", () => { node.branches.push({ weight: 50, next: null }); changed(node); });
        out.push(el("fieldset", {}, [el("legend", { text: T.branches }), ...rows, more]));
        break;
      }
      case "send":
        out.push(labelled(T.template, templatePicker(node)));
        out.push(labelled(T.channel, select_(node, "channel", P.channels || [])));
        break;
      case "survey":
        out.push(labelled(T.survey_field, select_(node, "survey", P.surveys || [], true, number)));
        out.push(labelled(T.template, templatePicker(node)));
        out.push(labelled(T.channel, select_(node, "channel", P.channels || [])));
        break;
      case "club_invite":
        out.push(labelled(T.club_field, select_(node, "club", P.clubs || [], true, number)));
        out.push(labelled(T.template, templatePicker(node)));
        out.push(labelled(T.channel, select_(node, "channel", P.channels || [])));
        break;
      case "task":
        out.push(labelled(T.title, input(node, "title", { type: "text", maxlength: 200 })));
        out.push(labelled(T.due_hours, input(node, "due_hours", { type: "number", min: 0 }, number)));
        break;
      case "tag":
        out.push(labelled(T.action, select_(node, "action", [["add", T.add], ["remove", T.remove]])));
        out.push(labelled(T.tag, input(node, "tag", { type: "text", maxlength: 64 })));
        break;
      case "attribute":
        out.push(labelled(T.key, input(node, "key", { type: "text", maxlength: 64 })));
        out.push(labelled(T.value, input(node, "value", { type: "text" })));
        break;
      case "award_points":
        out.push(labelled(T.points, input(node, "points", { type: "number", min: 1 }, number)));
        out.push(labelled(T.reason, input(node, "reason", { type: "text", maxlength: 200 })));
        break;
      case "webhook":
        out.push(labelled(T.url, input(node, "url", { type: "url" })));
        break;
      default: break;
    }
    return out;
  }
  const quickPending = {}; // node id -> the quick check chosen, until its value is
  function quickRule(node) {
    const found = quickOf(node.rule);
    const chosen = found ? found[0] : quickPending[node.id] || "";
    const kind = el("select", { name: "jc-quick" });
    kind.append(el("option", { value: "", text: T.choose }));
    Object.keys(QUICK).forEach((k) => kind.append(el("option", { value: k, text: T["quick_" + k] })));
    kind.value = chosen;
    kind.addEventListener("change", () => {
      quickPending[node.id] = kind.value;
      if (!kind.value) return;
      node.rule = { op: "and", rules: kind.value === "orders" ? [QUICK.orders("2")] : [] };
      changed(node);
    });
    const rows = [labelled(T.quick, kind)];
    if (!chosen) return rows;
    let value;
    if (chosen === "bought" || chosen === "event") {
      value = el("select", { name: "jc-quick-value" }, [el("option", { value: "", text: T.choose })]);
      const list = chosen === "bought"
        ? (P.products || []).map(([sku, name]) => [sku, name + " · " + sku])
        : P.events || [];
      list.forEach(([v, text]) => value.append(el("option", { value: v, text: text })));
    } else {
      value = el("input", { name: "jc-quick-value", type: chosen === "orders" ? "number" : "text", min: 1 });
    }
    value.value = found ? found[1] : "";
    value.addEventListener("change", () => {
      node.rule = { op: "and", rules: value.value ? [QUICK[chosen](value.value)] : [] };
      changed(node);
    });
    rows.push(labelled(T["quick_" + chosen + "_value"], value));
    return rows;
  }
  function exitPickers(node) {
    const others = nodes().filter((n) => n.id !== node.id).map((n) => {
      const name = n.label || T.types[n.type], what = title(n);
      return [n.id, name === what ? name : name + " — " + what];
    });
    return ports(node).map((port) => {
      const control = el("select", { name: "jc-exit-" + port.key });
      control.append(el("option", { value: "", text: T.end }));
      others.forEach(([value, text]) => control.append(el("option", { value: value, text: text })));
      control.value = exitOf(node, port.key) || "";
      control.addEventListener("change", () => { exitSet(node, port.key, control.value || null); changed(node); });
      return labelled(port.label || T.next, control);
    });
  }
  return { labelled, input, fieldsFor, exitPickers };
}
