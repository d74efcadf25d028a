/* The visual journey builder, and the read-only flow with live counts on a journey's page.
 *
 * The editor reads and writes the form's own fields (the steps as JSON, the first step, the
 * positions), so the server checks the same definition whether it came from the canvas or
 * from the JSON typed in the advanced view, and the page still saves without JavaScript.
 * Data (pickers, words in the page's language, problems, counts) comes from a json_script
 * block. No inline script or style: positions are set through the CSSOM, which the page's
 * Content-Security-Policy allows. */
import { panelFor, quickOf } from "./journey_canvas_panel.js";

(function () {
  "use strict";
  const root = document.getElementById("jc-root");
  const source = document.getElementById("journey-canvas-data");
  if (!root || !source) return;
  const data = JSON.parse(source.textContent);
  const T = data.texts;
  const P = data.pickers || {};
  const READONLY = data.readonly;
  const ICONS = root.dataset.icons;
  const NODE_W = 230, NODE_H = 84, GAP_X = 50, GAP_Y = 52, TOP = 20, LEFT = 24;
  const TRIGGER = "__trigger";
  const SVG = "http://www.w3.org/2000/svg";
  const form = READONLY ? null : root.closest("form");
  const field = (name) => (form ? form.elements.namedItem(name) : null);

  let graph = { start: null, nodes: [], layout: {} };
  let selected = TRIGGER;
  const heights = {}; // each card's drawn height: the wires leave from its bottom
  const titles = Object.assign({}, data.titles || {}); // the server's, until a node changes
  const serverProblems = {}; // node id ("" for the journey) -> messages, until it changes
  (data.problems || []).forEach(([id, message]) => {
    (serverProblems[id || ""] = serverProblems[id || ""] || []).push(message);
  });

  /* --- small helpers ------------------------------------------------------------------ */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach((child) => child && node.append(child));
    return node;
  }
  function icon(kind) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "jc-icon");
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS(SVG, "use");
    use.setAttribute("href", ICONS + "#" + kind);
    svg.append(use);
    return svg;
  }
  function fmt(text, values) {
    return text.replace(/%\((\w+)\)[sd]/g, (_m, key) => (key in values ? values[key] : ""));
  }
  function plural(forms, n) {
    let index = n === 1 ? 0 : 2;
    if ((data.language || "").startsWith("ru")) {
      const d = n % 10, h = n % 100;
      index = d === 1 && h !== 11 ? 0 : d >= 2 && d <= 4 && (h < 10 || h >= 20) ? 1 : 2;
    }
    return fmt(forms[index], { n: n });
  }
  function duration(days, hours) {
    days = Number(days) || 0;
    hours = Number(hours) || 0;
    if (hours >= 24) { days += Math.floor(hours / 24); hours %= 24; }
    const parts = [];
    if (days) parts.push(plural(T.days, days));
    if (hours) parts.push(Number.isInteger(hours) ? plural(T.hours, hours) : hours + " h");
    return parts.join(" ");
  }
  const channelName = (channel) => ((P.channels || []).find((c) => c[0] === channel) || [0, channel])[1];
  const byId = (id) => graph.nodes.find((n) => n.id === id);
  const template = (slug) => (P.templates || []).find((t) => t.slug === slug);

  /* --- the graph ---------------------------------------------------------------------- */
  function ports(node) {
    if (node.type === "exit") return [];
    if (node.type === "condition") return [{ key: "yes", label: T.yes }, { key: "no", label: T.no }];
    if (node.type === "wait_event") {
      return [{ key: "on_event", label: T.happened }, { key: "on_timeout", label: T.timeout }];
    }
    if (node.type === "split") {
      const total = node.branches.reduce((sum, b) => sum + (Number(b.weight) || 0), 0) || 1;
      return node.branches.map((b, i) => ({
        key: "b" + i,
        label: (b.label || String.fromCharCode(65 + i)) + " · " + Math.round((100 * b.weight) / total) + " %",
      }));
    }
    return [{ key: "next", label: "" }];
  }
  function exitOf(node, key) {
    if (key.startsWith("b") && node.type === "split") return node.branches[Number(key.slice(1))].next || null;
    return node[key] || null;
  }
  function exitSet(node, key, target) {
    if (key.startsWith("b") && node.type === "split") node.branches[Number(key.slice(1))].next = target;
    else node[key] = target;
  }
  function changed(node) {
    if (node) { delete titles[node.id]; delete serverProblems[node.id]; }
    store();
    draw();
  }

  function load() {
    if (READONLY) {
      const d = data.definition;
      graph = { start: d.start, nodes: d.nodes, layout: Object.assign({}, d.layout) };
      return true;
    }
    let nodes, layout;
    try {
      nodes = JSON.parse(field("nodes").value || "[]");
      if (!Array.isArray(nodes) || nodes.some((n) => !n || typeof n !== "object" || !n.id)) throw new Error();
    } catch (_e) {
      root.classList.add("jc-bad-json");
      return false;
    }
    try { layout = JSON.parse(field("layout").value || "{}") || {}; } catch (_e) { layout = {}; }
    root.classList.remove("jc-bad-json");
    graph = { start: field("start").value || (nodes[0] ? nodes[0].id : null), nodes: nodes, layout: layout };
    return true;
  }
  function store() {
    if (READONLY) return;
    field("nodes").value = JSON.stringify(graph.nodes, null, 2);
    field("start").value = graph.start || "";
    field("layout").value = JSON.stringify(graph.layout);
  }

  /* Nodes without a stored position go in rows by distance from the start; returns those
   * rows (node id -> row) so `settle` can space them by the cards' real heights. */
  function arrange() {
    const depth = {}, reached = [];
    const queue = graph.start ? [[graph.start, 0]] : [];
    while (queue.length) {
      const [id, d] = queue.shift();
      const node = byId(id);
      if (!node || id in depth) continue;
      depth[id] = d;
      reached.push(node);
      ports(node).forEach((p) => { const t = exitOf(node, p.key); if (t) queue.push([t, d + 1]); });
    }
    const inRow = {}, placed = {};
    let spare = 0;
    // In the order the flow reaches them, so branches sit left to right as their exits do.
    const order = reached.concat(graph.nodes.filter((n) => !(n.id in depth)));
    order.forEach((node) => {
      if (graph.layout[node.id]) return;
      if (node.id in depth) {
        const d = depth[node.id];
        inRow[d] = (inRow[d] || 0) + 1;
        placed[node.id] = d;
        graph.layout[node.id] = {
          x: LEFT + (inRow[d] - 1) * (NODE_W + GAP_X),
          y: TOP + (d + 1) * (NODE_H + GAP_Y),
        };
      } else {
        placed[node.id] = -1; // nothing leads to it: a column of its own, to the right
        graph.layout[node.id] = { x: LEFT + Math.max(3, ...Object.values(inRow)) * (NODE_W + GAP_X), y: TOP + spare++ * (NODE_H + GAP_Y) };
      }
    });
    return placed;
  }
  /* Once drawn, rows laid out just now are spaced by their tallest card. */
  function settle(placed) {
    const ids = Object.keys(placed);
    if (!ids.length) return;
    let top = TOP + (heights[TRIGGER] || NODE_H) + GAP_Y;
    const last = Math.max(...ids.map((id) => placed[id]));
    for (let d = 0; d <= last; d += 1) {
      const row = ids.filter((id) => placed[id] === d);
      row.forEach((id) => { graph.layout[id].y = top; });
      if (row.length) top += Math.max(...row.map((id) => heights[id] || NODE_H)) + GAP_Y;
    }
    let spare = TOP;
    ids.filter((id) => placed[id] === -1).forEach((id) => {
      graph.layout[id].y = spare;
      spare += (heights[id] || NODE_H) + GAP_Y;
    });
    store();
    draw();
  }
  function at(id) {
    if (id === TRIGGER) return { x: LEFT, y: TOP };
    return graph.layout[id] || { x: LEFT, y: TOP };
  }
  function reachable() {
    const seen = new Set();
    const stack = graph.start ? [graph.start] : [];
    while (stack.length) {
      const id = stack.pop();
      const node = byId(id);
      if (!node || seen.has(id)) continue;
      seen.add(id);
      ports(node).forEach((p) => { const t = exitOf(node, p.key); if (t) stack.push(t); });
    }
    return seen;
  }

  /* --- words --------------------------------------------------------------------------- */
  function title(node) {
    if (titles[node.id]) return titles[node.id];
    switch (node.type) {
      case "wait": {
        let text = fmt(T.wait, { duration: duration(node.days, node.hours) });
        if (node.until_time) text += " " + fmt(T.wait_until_time, { time: String(node.until_time).slice(0, 5) });
        return text;
      }
      case "wait_event": {
        const names = (node.events || []).map((e) => ((P.events || []).find((x) => x[0] === e) || [e, e])[1]);
        return fmt(T.wait_event, { limit: duration(0, node.timeout_hours), events: names.join(", ") });
      }
      case "send": {
        const t = template(node.template);
        return fmt(T.send, { template: t ? t.name : node.template || "…", channel: channelName(node.channel) });
      }
      case "survey": {
        const t = template(node.template);
        return fmt(T.survey, { template: t ? t.name : node.template || "…" });
      }
      case "club_invite": {
        const t = template(node.template);
        const club = (P.clubs || []).find((c) => c[0] === node.club);
        return fmt(T.club_invite, { club: club ? club[1] : node.club || "…", template: t ? t.name : node.template || "…" });
      }
      case "task": return fmt(T.task, { title: node.title || "…" });
      case "tag": return fmt(node.action === "remove" ? T.tag_remove : T.tag_add, { tag: node.tag || "…" });
      case "attribute": return fmt(T.attribute, { key: node.key || "…", value: node.value == null ? "" : node.value });
      case "award_points": return plural(T.award_points, Number(node.points) || 0);
      case "condition": {
        const quick = quickOf(node.rule);
        if (!quick) return T.condition;
        let value = quick[1];
        if (quick[0] === "bought") value = ((P.products || []).find((p) => p[0] === value) || [0, value])[1];
        if (quick[0] === "event") value = ((P.events || []).find((e) => e[0] === value) || [0, value])[1];
        return fmt(T.quick_title, { check: T["quick_" + quick[0]], value: value });
      }
      default: return T[node.type] || node.type;
    }
  }
  function problems(node) {
    const found = (serverProblems[node.id] || []).slice();
    const need = (ok, message) => { if (!ok && !found.includes(message)) found.push(message); };
    switch (node.type) {
      case "wait": need(node.days || node.hours || node.until_time || node.until_date, T.no_wait); break;
      case "wait_event":
        need((node.events || []).length, T.no_events);
        need(Number(node.timeout_hours) > 0, T.no_timeout);
        break;
      case "send": case "survey": case "club_invite": {
        need(node.template, T.no_template);
        const t = template(node.template);
        if (t && node.channel !== "preferred" && !t.sends_on.includes(node.channel)) {
          found.push(fmt(T.wrong_channel, { channel: channelName(node.channel) }));
        }
        if (node.type === "survey") need(node.survey, T.no_survey);
        if (node.type === "club_invite") need(node.club, T.no_club);
        break;
      }
      case "task": need(node.title, T.no_title); break;
      case "tag": need(node.tag, T.no_tag); break;
      case "attribute": need(/^[A-Za-z0-9_-]{1,64}$/.test(node.key || ""), T.no_key); break;
      case "award_points": need(Number(node.points) > 0, T.no_points); break;
      case "webhook": need(node.url, T.no_url); break;
      default: break;
    }
    if (!READONLY && !reachable().has(node.id)) found.push(T.unreachable);
    return found;
  }

  /* --- drawing ------------------------------------------------------------------------- */
  const stage = el("div", { className: "jc-stage" });
  const plane = el("div", { className: "jc-plane" });
  const wires = document.createElementNS(SVG, "svg");
  wires.setAttribute("class", "jc-wires");
  wires.setAttribute("aria-hidden", "true");
  plane.append(wires);
  stage.append(plane);
  const panel = el("aside", { className: "jc-panel", "aria-live": "polite" });

  /* The live counts under a step: each number with its word agreeing with it («1 прошёл»,
   * «3 прошли»), and the runs that could not send in the problem colour. */
  function countsLine(id) {
    const c = (data.counts || {})[id];
    if (!c || !(c.waiting || c.passed || c.sent || c.problems)) return null;
    const items = [];
    const item = (n, word, attrs) => el("li", attrs || {}, [el("strong", { text: n.toLocaleString(data.language) }), " " + word]);
    if (c.waiting) items.push(item(c.waiting, T.here_now));
    items.push(item(c.passed, plural(T.passed, c.passed), { title: T.passed_title }));
    if (c.problems) items.push(item(c.problems, T.problem, { className: "jc-count-problem", title: T.problem_title }));
    if (c.converted) items.push(item(c.converted, plural(T.converted, c.converted)));
    if (c.sent) {
      items.push(item(c.sent, T.sent), item(c.opened, T.opened), item(c.clicked, T.clicked), item(c.replied || 0, T.replied));
    }
    return el("ul", { className: "jc-counts" }, items);
  }
  function card(id, kind, head, text, issues) {
    const box = el("div", {
      className: "jc-node jc-type-" + kind + (selected === id && !READONLY ? " jc-selected" : "") + (issues.length ? " jc-has-problems" : ""),
      "data-node": id,
      "data-type": kind,
      tabindex: READONLY ? null : "0",
      role: READONLY ? null : "button",
    }, [
      el("div", { className: "jc-head" }, [icon(kind), el("span", { text: head })]),
      el("div", { className: "jc-title", text: text }),
    ]);
    if (issues.length) {
      box.append(el("ul", { className: "jc-problems", title: issues.join("\n") }, issues.map((m) => el("li", { text: m }))));
    }
    // On the journey's page, links to a step ("#node-…", from its problems) land on its card.
    if (READONLY && id !== TRIGGER) box.id = "node-" + id;
    const pos = at(id);
    box.style.left = pos.x + "px";
    box.style.top = pos.y + "px";
    return box;
  }
  function portsOf(id) {
    if (id === TRIGGER) return [{ key: "start", label: "" }];
    return ports(byId(id));
  }
  function portPoint(id, index, count) {
    const pos = at(id);
    return { x: pos.x + (NODE_W * (index + 1)) / (count + 1), y: pos.y + (heights[id] || NODE_H) };
  }
  function targetOf(id, key) {
    return id === TRIGGER ? graph.start : exitOf(byId(id), key);
  }
  function wire(from, to, label) {
    const mid = (from.y + to.y) / 2;
    const path = document.createElementNS(SVG, "path");
    const bend = to.y > from.y ? mid : from.y + 40;
    const bend2 = to.y > from.y ? mid : to.y - 40;
    path.setAttribute("d", `M${from.x},${from.y} C${from.x},${bend} ${to.x},${bend2} ${to.x},${to.y}`);
    path.setAttribute("class", "jc-wire");
    wires.append(path);
    if (label) {
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("x", from.x + 4);
      text.setAttribute("y", from.y + 16);
      text.setAttribute("class", "jc-wire-label");
      text.textContent = label;
      wires.append(text);
    }
  }
  function draw() {
    plane.querySelectorAll(".jc-node").forEach((n) => n.remove());
    const journeyIssues = serverProblems[""] || [];
    const ids = [TRIGGER, ...graph.nodes.map((n) => n.id)];
    ids.forEach((id) => {
      const node = id === TRIGGER ? null : byId(id);
      const box = node
        ? card(id, node.type, node.label || T.types[node.type] || node.type, title(node), problems(node))
        : card(TRIGGER, "trigger", T.trigger, data.trigger || triggerText(), journeyIssues);
      const line = node && countsLine(id);
      if (line) box.append(line);
      // A step that failed to send at run time is marked as a step with a problem is.
      if (line && line.querySelector(".jc-count-problem")) box.classList.add("jc-has-problems");
      plane.append(box);
      heights[id] = box.offsetHeight || NODE_H;
    });
    connections();
    if (!READONLY) drawPanel();
  }
  /* The wires and the ports, from where the cards are now (also while one is dragged). */
  function connections() {
    plane.querySelectorAll(".jc-port").forEach((n) => n.remove());
    wires.replaceChildren();
    let width = LEFT + NODE_W, height = TOP + NODE_H;
    [TRIGGER, ...graph.nodes.map((n) => n.id)].forEach((id) => {
      const pos = at(id);
      width = Math.max(width, pos.x + NODE_W);
      height = Math.max(height, pos.y + heights[id]);
      const list = portsOf(id);
      list.forEach((port, i) => {
        const point = portPoint(id, i, list.length);
        const target = targetOf(id, port.key);
        if (target && byId(target)) {
          const to = at(target);
          wire(point, { x: to.x + NODE_W / 2, y: to.y }, port.label);
        } else if (port.label) {
          wire(point, { x: point.x, y: point.y + 28 }, port.label);
        }
        if (READONLY) return;
        const handle = el("span", {
          className: "jc-port",
          "data-node": id,
          "data-port": port.key,
          title: port.label || T.next,
          "aria-label": port.label || T.next,
        });
        handle.style.left = point.x - 7 + "px";
        handle.style.top = point.y - 7 + "px";
        plane.append(handle);
      });
    });
    plane.style.width = width + NODE_W + "px";
    plane.style.height = height + GAP_Y + 40 + "px";
    wires.setAttribute("width", width + NODE_W);
    wires.setAttribute("height", height + GAP_Y + 40);
  }
  function triggerText() {
    const kind = field("trigger_kind");
    if (!kind) return "";
    const option = kind.options[kind.selectedIndex];
    return option ? option.text : "";
  }

  /* --- moving and connecting ----------------------------------------------------------- */
  let drag = null;
  function planePoint(event) {
    const box = plane.getBoundingClientRect();
    return { x: event.clientX - box.left, y: event.clientY - box.top };
  }
  function onDown(event) {
    if (READONLY || event.button !== 0) return;
    const port = event.target.closest(".jc-port");
    const box = event.target.closest(".jc-node");
    if (port) {
      event.preventDefault();
      const line = document.createElementNS(SVG, "path");
      line.setAttribute("class", "jc-wire jc-wire-new");
      wires.append(line);
      drag = { kind: "wire", from: port.dataset.node, key: port.dataset.port, line: line,
        start: { x: parseFloat(port.style.left) + 7, y: parseFloat(port.style.top) + 7 } };
      stage.setPointerCapture(event.pointerId);
    } else if (box) {
      const p = planePoint(event), pos = at(box.dataset.node);
      drag = { kind: "move", id: box.dataset.node, dx: p.x - pos.x, dy: p.y - pos.y, moved: false };
      stage.setPointerCapture(event.pointerId);
    }
  }
  function onMove(event) {
    if (!drag) return;
    const p = planePoint(event);
    if (drag.kind === "wire") {
      drag.line.setAttribute("d", `M${drag.start.x},${drag.start.y} L${p.x},${p.y}`);
      return;
    }
    if (drag.id === TRIGGER) return;
    const x = Math.max(0, Math.round(p.x - drag.dx)), y = Math.max(0, Math.round(p.y - drag.dy));
    const pos = at(drag.id);
    if (!drag.moved && Math.abs(x - pos.x) + Math.abs(y - pos.y) < 4) return;
    drag.moved = true;
    graph.layout[drag.id] = { x: x, y: y };
    const box = plane.querySelector(`.jc-node[data-node="${CSS.escape(drag.id)}"]`);
    box.style.left = x + "px";
    box.style.top = y + "px";
    connections();
  }
  function onUp(event) {
    if (!drag) return;
    const done = drag;
    drag = null;
    if (done.kind === "wire") {
      done.line.remove();
      const hit = document.elementFromPoint(event.clientX, event.clientY);
      const box = hit && hit.closest(".jc-node");
      const target = box && box.dataset.node;
      if (target && target !== TRIGGER && target !== done.from) connect(done.from, done.key, target);
      return;
    }
    if (done.moved) { store(); draw(); } else select(done.id);
  }
  function connect(from, key, target) {
    if (from === TRIGGER) { graph.start = target; changed(null); return; }
    const node = byId(from);
    exitSet(node, key, target);
    changed(node);
  }
  function select(id) {
    selected = id;
    draw();
    // Drawing replaced the cards; the chosen one keeps the focus, so Delete removes it.
    const box = plane.querySelector(`.jc-node[data-node="${CSS.escape(id)}"]`);
    if (box) box.focus({ preventScroll: true });
  }

  /* --- adding and deleting ------------------------------------------------------------- */
  const DEFAULTS = {
    wait: { days: 1 },
    wait_event: { events: ["message_opened"], timeout_hours: 72 },
    condition: { rule: { op: "and", rules: [] } },
    split: { branches: [{ weight: 50, next: null }, { weight: 50, next: null }] },
    send: { template: "", channel: "preferred" },
    survey: { template: "", channel: "preferred" },
    club_invite: { template: "", channel: "preferred" },
    task: { title: "", due_hours: 24 },
    tag: { action: "add", tag: "" },
    attribute: { key: "", value: "" },
    award_points: { points: 100, reason: "journey" },
    webhook: { url: "" },
    exit: {},
  };
  /* A step from the palette: clicked, it goes after the selected step and is connected to it;
   * dropped on the canvas, it stays where it was dropped, loose until a wire is drawn to it. */
  function add(kind, dropped) {
    let n = 1;
    while (byId(kind + "_" + n)) n += 1;
    const node = Object.assign({ id: kind + "_" + n, type: kind }, JSON.parse(JSON.stringify(DEFAULTS[kind])));
    if (dropped) {
      graph.nodes.push(node);
      graph.layout[node.id] = { x: Math.max(0, Math.round(dropped.x - NODE_W / 2)), y: Math.max(0, Math.round(dropped.y - 20)) };
      if (!graph.start) graph.start = node.id;
      selected = node.id;
      changed(null);
      return;
    }
    const after = selected === TRIGGER ? null : byId(selected);
    const base = selected === TRIGGER || !after ? at(TRIGGER) : at(after.id);
    let x = base.x, y = base.y + NODE_H + GAP_Y;
    while (Object.values(graph.layout).some((p) => Math.abs(p.x - x) < NODE_W && Math.abs(p.y - y) < NODE_H)) {
      x += NODE_W + GAP_X;
    }
    graph.nodes.push(node);
    graph.layout[node.id] = { x: x, y: y };
    if (selected === TRIGGER && !graph.start) graph.start = node.id;
    else if (after) {
      const free = ports(after).find((p) => !exitOf(after, p.key));
      if (free) exitSet(after, free.key, node.id);
    } else if (!graph.start) graph.start = node.id;
    selected = node.id;
    changed(after);
  }
  function remove(id) {
    const gone = byId(id);
    const onward = gone && ports(gone).length === 1 ? exitOf(gone, ports(gone)[0].key) : null;
    graph.nodes = graph.nodes.filter((n) => n.id !== id);
    delete graph.layout[id];
    graph.nodes.forEach((node) => ports(node).forEach((p) => {
      if (exitOf(node, p.key) === id) { exitSet(node, p.key, onward); delete titles[node.id]; }
    }));
    if (graph.start === id) graph.start = onward || null;
    selected = TRIGGER;
    changed(null);
  }

  /* --- the side panel ------------------------------------------------------------------ */
  const triggerSettings = document.getElementById("jc-trigger");
  const { labelled, input, fieldsFor, exitPickers } = panelFor({
    el, T, P, changed, template, duration, ports, exitOf, exitSet, title,
    nodes: () => graph.nodes,
  });
  function drawPanel() {
    if (selected !== TRIGGER && !byId(selected)) selected = TRIGGER;
    if (triggerSettings && triggerSettings.parentNode === panel) root.append(triggerSettings);
    panel.replaceChildren();
    if (selected === TRIGGER) {
      panel.append(el("h3", {}, [icon("trigger"), " " + T.trigger]));
      if (triggerSettings) { panel.append(triggerSettings); triggerSettings.hidden = false; }
      return;
    }
    if (triggerSettings) triggerSettings.hidden = true;
    const node = byId(selected);
    panel.append(el("h3", {}, [icon(node.type), " " + T.types[node.type]]));
    const issues = problems(node);
    if (issues.length) panel.append(el("ul", { className: "jc-problems", role: "alert" }, issues.map((m) => el("li", { text: m }))));
    panel.append(labelled(T.name, input(node, "label", { type: "text", maxlength: 80 })));
    fieldsFor(node).forEach((f) => panel.append(f));
    const exits = exitPickers(node);
    if (exits.length) panel.append(el("fieldset", { className: "jc-exits" }, [el("legend", { text: T.exits }), ...exits]));
    const del = el("button", { type: "button", className: "secondary jc-delete", text: T.delete });
    del.addEventListener("click", () => remove(node.id));
    panel.append(del);
  }

  /* The trigger's settings show only the fields its kind uses. */
  function triggerFields() {
    const kind = field("trigger_kind");
    if (!kind || !triggerSettings) return;
    triggerSettings.querySelectorAll("[data-kinds]").forEach((box) => {
      box.hidden = !box.dataset.kinds.split(" ").includes(kind.value);
    });
  }

  /* --- start ------------------------------------------------------------------------------ */
  if (!load()) {
    root.classList.add("jc-on");
    return;
  }
  const placed = arrange();
  if (READONLY) {
    // The list drawn for pages without script gives its ids up to the cards.
    document.querySelectorAll(".jc-fallback [id^='node-']").forEach((box) => box.removeAttribute("id"));
    root.append(stage);
  } else {
    store(); // positions laid out now are kept on save
    const palette = el("div", { className: "jc-palette", role: "toolbar" },
      Object.entries(T.types).map(([kind, name]) => {
        const button = el("button", { type: "button", className: "outline", "data-add": kind, draggable: "true" }, [icon(kind), el("span", { text: name })]);
        button.addEventListener("click", () => add(kind));
        button.addEventListener("dragstart", (event) => {
          event.dataTransfer.setData("application/x-journey-step", kind);
          event.dataTransfer.effectAllowed = "copy";
        });
        return button;
      }));
    root.append(palette, el("div", { className: "jc-work" }, [stage, panel]));
    stage.addEventListener("dragover", (event) => {
      if (event.dataTransfer.types.includes("application/x-journey-step")) event.preventDefault();
    });
    stage.addEventListener("drop", (event) => {
      const kind = event.dataTransfer.getData("application/x-journey-step");
      if (!DEFAULTS[kind]) return;
      event.preventDefault();
      add(kind, planePoint(event));
    });
    stage.addEventListener("pointerdown", onDown);
    stage.addEventListener("pointermove", onMove);
    stage.addEventListener("pointerup", onUp);
    stage.addEventListener("keydown", (event) => {
      const box = event.target.closest(".jc-node");
      if (!box) return;
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(box.dataset.node); }
      if (event.key === "Delete" && box.dataset.node !== TRIGGER) remove(box.dataset.node);
    });
    const kind = field("trigger_kind");
    if (kind) kind.addEventListener("change", () => { triggerFields(); draw(); });
    triggerFields();
    const product = document.getElementById("jc-product");
    if (product) {
      product.addEventListener("change", () => {
        const skus = field("trigger_skus");
        const list = skus.value.split(",").map((s) => s.trim()).filter(Boolean);
        if (product.value && !list.includes(product.value)) list.push(product.value);
        skus.value = list.join(", ");
        product.value = "";
      });
    }
    ["trigger_event_type", "goal_event"].forEach((name) => {
      const control = field(name);
      if (control) control.setAttribute("list", "jc-event-types");
    });
    field("nodes").addEventListener("change", () => {
      if (!load()) return;
      // Typed JSON may reuse ids for other steps: titles are worked out afresh.
      Object.keys(titles).forEach((id) => delete titles[id]);
      const fresh = arrange();
      draw();
      settle(fresh);
    });
    const advanced = document.getElementById("jc-advanced");
    if (advanced) advanced.open = false;
  }
  root.classList.add("jc-on");
  draw();
  settle(placed);
})();
