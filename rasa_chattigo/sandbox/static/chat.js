"use strict";
// The sandbox's WhatsApp-like chat. One EventSource feeds an event log; the open
// conversation (business number + user) is drawn from it, and redrawn when either changes.

const $ = (id) => document.getElementById(id);
const S = { config: null, did: "", phone: "", people: [], events: [], holders: {},
            replyTo: null, lastDay: "" };
const TICKS = { accepted: "✓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠", pending: "🕓" };
const REACTIONS = ["👍", "❤️", "😂", "😮", "🙏"];

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  return node;
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) toast(`${answer.status}: ${data.reason || answer.statusText}`);
  return data;
}

// --- WhatsApp formatting -------------------------------------------------------------------

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const EDGE = "(^|[\\s(])", END = "(?=$|[\\s).,!?:;])";
const STYLES = [["*", "b"], ["_", "i"], ["~", "s"]].map(([mark, tag]) => [
  new RegExp(`${EDGE}\\${mark}(\\S(?:[^${mark}\\n]*?\\S)?)\\${mark}${END}`, "g"),
  `$1<${tag}>$2</${tag}>`]);

// Monospace blocks are left as they are; *bold*, _italic_, ~strike~ and links elsewhere.
function format(text) {
  return text.split(/```([\s\S]+?)```/)
    .map((part, i) => (i % 2 ? `<code>${escapeHtml(part)}</code>` : inline(part))).join("");
}

function inline(text) {
  let html = escapeHtml(text);
  for (const [pattern, replacement] of STYLES) html = html.replace(pattern, replacement);
  return html.replace(/https?:\/\/[^\s<]*[^\s<.,!?;:)]/g,
    (url) => `<a href="${url}" target="_blank" rel="noopener">${url}</a>`);
}

function textNode(text) {
  const node = el("div", "text");
  node.innerHTML = format(text || "");
  return node;
}

// --- what each message looks like ----------------------------------------------------------

function mediaCard(kind, url, caption, filename) {
  const box = el("div", `media ${kind}`);
  if (kind === "image" && url) {
    const img = el("img");
    img.alt = caption || "imagen";
    img.src = url;
    img.onerror = () => img.replaceWith(el("div", "placeholder", "🖼️ imagen no disponible"));
    box.append(img);
  } else {
    const icons = { image: "🖼️ Foto", video: "🎬 Video", audio: "🎵 Audio", voice: "🎤 Nota de voz 0:07",
                    document: "📄 " + (filename || "documento"), sticker: "😀" };
    box.append(el("div", kind === "sticker" ? "sticker" : "placeholder", icons[kind] || kind));
    if (url && kind !== "sticker") {
      const link = el("a", "open", "abrir");
      link.href = url;
      link.target = "_blank";
      box.append(link);
    }
  }
  if (caption) box.append(textNode(caption));
  return box;
}

function locationCard(place) {
  const box = el("div", "location");
  box.append(el("div", "map", "📍"));
  if (place.name) box.append(el("b", null, place.name));
  if (place.address) box.append(el("div", null, place.address));
  box.append(el("div", "coords", `${place.latitude}, ${place.longitude}`));
  return box;
}

function templateCard(name, language, params) {
  const box = el("div", "template");
  box.append(el("div", "label", `Plantilla · ${language || "?"}`), el("b", null, name));
  (params || []).forEach((value, i) => box.append(el("div", "param", `{{${i + 1}}} ${value}`)));
  return box;
}

function choice(label, onTap) {
  const button = el("button", "choice", label);
  button.type = "button";
  button.onclick = (e) => { e.stopPropagation(); onTap(); };
  return button;
}

function interactive(msg, m, bubble, row) {
  const it = msg.interactive;
  if (it.header && it.header.type === "text") bubble.append(el("b", "header", it.header.text));
  else if (it.header) bubble.append(mediaCard(it.header.type, (it.header[it.header.type] || {}).link));
  bubble.append(textNode((it.body || {}).text));
  if (it.footer) bubble.append(el("div", "footer", it.footer.text));
  const choices = el("div", "choices");
  const action = it.action || {};
  if (it.type === "button") {
    for (const b of action.buttons || []) {
      choices.append(choice(b.reply.title, () => userSend({ type: "button_reply", reply_id: b.reply.id,
                                                            title: b.reply.title, context: m.wamid })));
    }
  } else if (it.type === "list") {
    choices.append(choice(`☰ ${action.button}`, () => openList(action, m)));
  } else if (it.type === "cta_url") {
    const link = el("a", "choice", `🔗 ${action.parameters.display_text}`);
    link.href = action.parameters.url;
    link.target = "_blank";
    choices.append(link);
  } else {
    choices.append(choice("📍 Enviar ubicación", () => openForm("location")));
  }
  row.append(choices);
}

function cloudBody(msg, m, bubble, row) {
  const kind = msg.type || "text";
  const content = msg[kind] || {};
  if (kind === "text") bubble.append(textNode(content.body));
  else if (kind === "location") bubble.append(locationCard(content));
  else if (kind === "interactive" && content.type in { button: 1, list: 1, cta_url: 1,
                                                     location_request_message: 1 }) {
    interactive(msg, m, bubble, row);
  } else if (kind === "interactive" || kind === "button") {
    bubble.append(textNode(m.text));
    bubble.classList.add("tapped");
  } else if (kind === "template") {
    const params = (content.components || []).flatMap((c) => (c.parameters || []).map((p) => p.text));
    bubble.append(templateCard(content.name, (content.language || {}).code, params));
  } else if (kind in { image: 1, video: 1, audio: 1, document: 1, sticker: 1 }) {
    const shown = kind === "audio" && content.voice ? "voice" : kind;
    bubble.append(mediaCard(shown, content.link, content.caption, content.filename));
  } else {
    bubble.append(textNode(m.text));
  }
}

function chattigoBody(p, m, bubble) {
  if (p.type === "HSM") {
    const hsm = p.hsm || {};
    const mine = (hsm.destinations || []).find((d) => d.destination === m.msisdn) || {};
    bubble.append(templateCard(hsm.template || hsm.elementName, hsm.languageCode,
                               mine.parameters || hsm.parameters));
  } else if (p.isAttachment && p.attachment) {
    bubble.append(mediaCard(m.kind, p.attachment.mediaUrl, p.content, p.attachment.fileName));
  } else {
    bubble.append(textNode(p.content));
  }
}

function userMessage(m) {
  const p = m.payload || {};
  if (!p.entry) return { type: "legacy" };
  return ((p.entry[0].changes[0].value.messages) || [{}])[0];
}

function systemLine(m) {
  const line = el("div", "system", m.text.replace(/^\[|\]$/g, ""));
  line.dataset.seq = m.seq;
  line.onclick = () => select(m);
  return line;
}

function messageRow(m) {
  const mine = m.direction === "in";
  const row = el("div", `row ${mine ? "me" : "bot"}`);
  const bubble = el("div", "bubble");
  Object.assign(row.dataset, { seq: m.seq, kind: m.kind, wamid: m.wamid || m.message_id });
  row.append(bubble);
  const msg = mine ? userMessage(m) : m.payload;
  const quoted = msg.context && msg.context.id && findRow("wamid", msg.context.id);
  if (quoted) bubble.append(el("div", "quote", quoted.querySelector(".bubble").dataset.summary));
  if (m.kind === "agent") {
    bubble.classList.add("agent");
    const name = m.payload.name === "Agente" ? "Agente" : `${m.payload.name} (agente)`;
    bubble.append(el("div", "author", `🎧 ${name}`), textNode(m.payload.content));
  } else if (mine && msg.type === "legacy") {
    bubble.append(textNode(m.text));
  } else if (mine && msg.type === "audio") {
    bubble.append(mediaCard(msg.audio.voice ? "voice" : "audio"));
  } else if (mine && msg.type in { image: 1, video: 1, document: 1, sticker: 1 }) {
    const media = msg[msg.type];
    bubble.append(mediaCard(msg.type, null, media.caption, media.filename));
  } else if (mine || m.payload.messaging_product) {
    cloudBody(msg, m, bubble, row);
  } else {
    chattigoBody(m.payload, m, bubble);
  }
  if (m.while_agent) {
    bubble.append(el("div", "error", "⚠ El bot escribió mientras un agente tiene el chat"));
  }
  bubble.dataset.summary = m.text.slice(0, 80);
  const meta = el("div", "meta");
  meta.append(el("span", "time", clockTime(m.at)));
  if (m.kind !== "agent") {
    const ticks = el("span", "ticks");
    meta.append(ticks);
    setTicks(row, mine ? "pending" : "accepted");
  }
  bubble.append(meta);
  bubble.onclick = () => select(m);
  return row;
}

function setTicks(row, status, errors) {
  const ticks = row.querySelector(".ticks");
  if (!ticks) return;
  row.dataset.status = status;
  ticks.textContent = TICKS[status] || "";
  ticks.className = `ticks ${status}`;
  if (errors && errors.length && !row.querySelector(".error")) {
    const e = errors[0];
    row.querySelector(".bubble").append(el("div", "error", `No entregado · ${e.code} ${e.title}`));
    $("chat").scrollTop = $("chat").scrollHeight;
  }
}

// --- the conversation ----------------------------------------------------------------------

function inChat(data) {
  return data.did === S.did && (data.msisdn === S.phone || data.msisdn === "");
}

function clockTime(iso) {
  const options = { hour: "2-digit", minute: "2-digit", hour12: false };
  return new Date(iso).toLocaleTimeString("es-AR", options);
}

function dayLabel(iso) {
  const day = new Date(iso), today = new Date();
  const yesterday = new Date(today.getTime() - 864e5);
  if (day.toDateString() === today.toDateString()) return "Hoy";
  if (day.toDateString() === yesterday.toDateString()) return "Ayer";
  return day.toLocaleDateString("es-AR", { weekday: "long", day: "numeric", month: "long" });
}

function append(node, iso) {
  const chat = $("chat");
  const day = dayLabel(iso);
  if (day !== S.lastDay) {
    chat.append(el("div", "day", day));
    S.lastDay = day;
  }
  chat.append(node);
  chat.scrollTop = chat.scrollHeight;
}

function findRow(attr, value) {
  return document.querySelector(`#chat [data-${attr}="${CSS.escape(String(value))}"]`);
}

function addReaction(m) {
  const msg = m.direction === "in" ? userMessage(m) : m.payload;
  const target = findRow("wamid", msg.reaction.message_id);
  if (!target) return;
  let badge = target.querySelector(`.reaction.${m.direction}`);
  if (!badge) target.querySelector(".bubble").append(badge = el("span", `reaction ${m.direction}`));
  badge.textContent = msg.reaction.emoji || "";
}

function refusedRow(data) {
  const row = el("div", "row bot refused");
  const bubble = el("div", "bubble");
  bubble.append(el("div", "author", `⚠ Envío rechazado por el sandbox (${data.status})`),
                el("div", "text", data.reason));
  bubble.onclick = () => select({ title: "Envío rechazado", payload: data.payload });
  row.append(bubble);
  return row;
}

const APPLY = {
  message(m) {
    if (m.kind === "reaction") return addReaction(m);
    const control = ["transfer", "group", "close", "timeout"].includes(m.kind);
    append(control ? systemLine(m) : messageRow(m), m.at);
    if (m.direction === "out" && m.payload.name && m.kind !== "agent") S.botName = m.payload.name;
  },
  status(d) {
    const row = findRow("wamid", d.wamid);
    if (row) setTicks(row, d.status, d.errors);
  },
  delivery(d) {
    const row = findRow("seq", d.seq);
    if (!row) return;
    if (d.webhook_status === 200) setTicks(row, "delivered");
    else setTicks(row, "failed", [{ code: d.webhook_status || "", title: d.reason || "" }]);
  },
  refused(d) { append(refusedRow(d), d.at); },
};

function onEvent(kind, data) {
  if (kind === "reset") {
    S.events = [];
    draw();
  } else {
    S.events.push([kind, data]);
    if (kind === "message" && !S.people.some((p) => p.phone === data.msisdn)) fillSelects();
    if (kind === "handoff") S.holders[`${data.did}|${data.msisdn}`] = data;
    if (APPLY[kind] && (kind === "delivery" || inChat(data))) APPLY[kind](data);
  }
  header();
  refreshPanel();
}

function draw() {
  $("chat").textContent = "";
  S.lastDay = "";
  for (const [kind, data] of S.events) {
    if (APPLY[kind] && (kind === "delivery" || inChat(data))) APPLY[kind](data);
  }
  header();
  refreshPanel();
}

function header() {
  const name = S.botName || S.config.bot_name || "Bot";
  $("bot-name").textContent = name;
  $("avatar").textContent = name[0];
  $("biz").textContent = `+${S.did}`;
  const holder = S.holders[`${S.did}|${S.phone}`];
  const withAgent = holder && holder.holder === "agent";
  $("presence").textContent = withAgent ? "🎧 con un agente" : "en línea";
  $("agent-state").textContent = withAgent
    ? `El chat lo tiene un agente${holder.group ? ` (grupo ${holder.group})` : ""}: `
      + "el bot no debería responder."
    : "El chat lo tiene el bot.";
}

// --- the user's actions --------------------------------------------------------------------

function person() {
  return S.people.find((p) => p.phone === S.phone) || { phone: S.phone, name: "Usuario" };
}

async function userSend(body) {
  if (S.replyTo && body.type !== "reaction") body.context = body.context || S.replyTo;
  setReply(null);
  return api("POST", `/sandbox/users/${S.phone}/send`, { did: S.did, name: person().name, ...body });
}

function setReply(m) {
  S.replyTo = m ? m.wamid || m.message_id : null;
  $("replying").hidden = !m;
  if (m) $("replying-text").textContent = `↩ ${m.text.slice(0, 80)}`;
}

function openList(action, m) {
  const sheet = $("sheet");
  sheet.textContent = "";
  sheet.append(el("h3", null, action.button));
  for (const section of action.sections) {
    if (section.title) sheet.append(el("div", "section", section.title));
    for (const r of section.rows) {
      const row = choice("", () => {
        sheet.hidden = true;
        userSend({ type: "list_reply", reply_id: r.id, title: r.title, context: m.wamid,
                   ...(r.description ? { description: r.description } : {}) });
      });
      row.classList.add("list-row");
      row.append(el("b", null, r.title), el("small", null, r.description || ""));
      sheet.append(row);
    }
  }
  sheet.append(choice("Cancelar", () => { sheet.hidden = true; }));
  sheet.hidden = false;
}

const FORMS = {
  location: [["latitude", "Latitud", "-34.6037"], ["longitude", "Longitud", "-58.3816"],
             ["place_name", "Nombre", "Obelisco"], ["address", "Dirección", "Av. 9 de Julio s/n"]],
  image: [["caption", "Leyenda", ""]],
  document: [["filename", "Archivo", "factura.pdf"], ["caption", "Leyenda", ""]],
  voice: [],
  sticker: [],
};

function openForm(kind) {
  const form = $("form");
  form.textContent = "";
  form.dataset.kind = kind;
  form.append(el("h3", null, { location: "Compartir ubicación", image: "Enviar foto",
    document: "Enviar documento", voice: "Enviar nota de voz", sticker: "Enviar sticker" }[kind]));
  for (const [name, label, value] of FORMS[kind]) {
    const field = el("label", null, label);
    const input = el("input");
    Object.assign(input, { name, value });
    field.append(input);
    form.append(field);
  }
  const send = el("button", "choice", "Enviar");
  send.type = "submit";
  form.append(send, choice("Cancelar", () => { form.hidden = true; }));
  form.hidden = false;
  $("attach-menu").hidden = true;
}

function submitForm(event) {
  event.preventDefault();
  const form = $("form");
  const values = Object.fromEntries(new FormData(form).entries());
  const kind = form.dataset.kind;
  const body = { location: { type: "location", latitude: parseFloat(values.latitude),
                             longitude: parseFloat(values.longitude) },
                 voice: { type: "audio", voice: true } }[kind] || { type: kind };
  for (const key of ["place_name", "address", "caption", "filename"]) {
    if (values[key]) body[key] = values[key];
  }
  form.hidden = true;
  userSend(body);
}

// --- the developer's panel -----------------------------------------------------------------

function select(m) {
  const title = m.title
    || (m.direction === "in" ? "Webhook enviado al bot" : "Envío recibido de Chattigo");
  $("json").textContent = `${title}\n${JSON.stringify(m.payload, null, 2)}`;
  const actions = $("json-actions");
  actions.textContent = "";
  if (!m.seq || !m.wamid && !m.message_id) return;
  actions.append(choice("↩ Responder", () => setReply(m)));
  for (const emoji of REACTIONS) {
    const reacted = m.wamid || m.message_id;
    actions.append(choice(emoji, () => userSend({ type: "reaction", reacted_to: reacted, emoji })));
  }
  if (m.direction === "in") {
    const redeliver = () => api("POST", `/sandbox/messages/${m.seq}/redeliver`);
    actions.append(choice("⟳ Reenviar webhook", redeliver));
  }
}

function refreshPanel() {
  if (refreshPanel.timer) return;  // at most one refresh in flight: statuses come in bursts
  refreshPanel.timer = setTimeout(async () => {
    refreshPanel.timer = null;
    const [stats, faults, clock] = await Promise.all(
      ["/sandbox/stats", "/sandbox/faults", "/sandbox/clock"].map((path) => api("GET", path)));
    const dl = $("stats");
    dl.textContent = "";
    for (const key of ["logins", "accepted", "rejected", "duplicate_ids", "faults_injected"]) {
      dl.append(el("dt", null, key), el("dd", null, String(stats[key])));
      dl.lastChild.id = `stat-${key}`;
    }
    $("fault-state").textContent = faults.mode
      ? `Fallan los próximos ${faults.remaining} envíos (${faults.mode})`
      : faults.rate ? `Falla el ${faults.rate * 100}% de los envíos` : "Sin fallas.";
    $("clock").textContent = `Reloj +${Math.round(clock.offset_seconds / 3600)} h`;
    const w = clock.windows.find((x) => x.did === S.did && x.msisdn === S.phone);
    $("window").textContent = !clock.enforced ? "La ventana de 24 h no se aplica (--no-window)."
      : !w ? "El usuario nunca escribió: sólo se entregan plantillas."
      : w.open ? `Ventana abierta: cierra en ${hoursAndMinutes(w.seconds_left)}.`
      : "Ventana cerrada: los mensajes libres fallan con 131047; sólo se entregan plantillas.";
  }, 150);
}

function hoursAndMinutes(seconds) {
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function agent(action, body) {
  return api("POST", `/sandbox/agent/${S.did}/${S.phone}/${action}`, body);
}

// --- users, business numbers, wiring -------------------------------------------------------

function fillSelects() {
  const seen = new Set(S.people.map((p) => p.phone));
  for (const [kind, d] of S.events) {
    if (kind === "message" && !seen.has(d.msisdn)) {
      seen.add(d.msisdn);
      S.people.push({ phone: d.msisdn, name: "Usuario" });
    }
  }
  $("user").replaceChildren(...S.people.map((p) => new Option(`${p.name} · +${p.phone}`, p.phone)));
  $("did").replaceChildren(...S.config.dids.map((d) => new Option(`+${d}`, d)));
  $("user").value = S.phone;
  $("did").value = S.did;
}

function wire() {
  $("composer").onsubmit = (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (text) userSend({ type: "text", text });
    $("text").value = "";
  };
  $("attach").onclick = () => { $("attach-menu").hidden = !$("attach-menu").hidden; };
  document.querySelectorAll("[data-attach]").forEach((b) => {
    b.onclick = () => openForm(b.dataset.attach);
  });
  $("form").onsubmit = submitForm;
  $("replying-cancel").onclick = () => setReply(null);
  $("user").onchange = () => { S.phone = $("user").value; draw(); };
  $("did").onchange = () => { S.did = $("did").value; S.botName = null; draw(); };
  $("add-user").onclick = () => {
    const phone = (prompt("Número del usuario (sólo dígitos)") || "").replace(/\D/g, "");
    if (!phone) return;
    S.people.push({ phone, name: prompt("Nombre de perfil") || "Usuario" });
    S.phone = phone;
    fillSelects();
    draw();
  };
  $("fault-set").onclick = () => api("POST", "/sandbox/faults", {
    mode: $("fault-mode").value, count: parseInt($("fault-count").value, 10) || 1,
    stall_seconds: 3, retry_after: 1 });
  $("fault-clear").onclick = () => api("DELETE", "/sandbox/faults");
  $("expire").onclick = () => api("POST", "/sandbox/tokens/expire");
  document.querySelectorAll("[data-advance]").forEach((b) => {
    b.onclick = () => api("POST", "/sandbox/clock", { advance: b.dataset.advance });
  });
  $("agent-take").onclick = () => agent("take");
  $("agent-back").onclick = () => agent("handback");
  $("agent-close").onclick = () => agent("close");
  $("agent-form").onsubmit = (e) => {
    e.preventDefault();
    const text = $("agent-text").value.trim();
    if (text) agent("messages", { text });
    $("agent-text").value = "";
  };
}

async function start() {
  S.config = await api("GET", "/sandbox/config");
  const query = new URLSearchParams(location.search);
  S.people = S.config.people.slice();
  S.phone = query.get("phone") || (S.people[0] || {}).phone || "5492644472542";
  S.did = query.get("did") || S.config.dids[0];
  if (!S.people.some((p) => p.phone === S.phone)) {
    S.people.push({ phone: S.phone, name: query.get("name") || "Usuario" });
  }
  wire();
  fillSelects();
  draw();
  const source = new EventSource("/sandbox/events");
  for (const kind of ["message", "status", "delivery", "refused", "handoff", "clock", "faults",
                      "tokens", "login", "reset"]) {
    source.addEventListener(kind, (e) => onEvent(kind, JSON.parse(e.data)));
  }
  source.onopen = () => { document.body.dataset.live = "yes"; };
  // A stream left open would hold one of the browser's six connections to the sandbox.
  addEventListener("pagehide", () => source.close());
}

start();
