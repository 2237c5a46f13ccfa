// The sandbox chat page: pick a user, send messages as signed webhooks (through the sandbox),
// and show the replies live from the sandbox's event stream; and the agent desk, where a person
// answers the users handed to the sandbox's Chatwoot. No framework, no build step.
// A module: it runs once the page is parsed, in strict mode.

const API = "/_sandbox/chat";
const UPLOAD = "/_sandbox/twilio/media";
const DESK = "/_sandbox/chatwoot/conversations";
const DESK_ORDER = ["open", "pending", "snoozed", "resolved"]; // the desk lists open ones first
const STORAGE = "chatbot-sandbox-chat";
const FAILED = new Set(["failed", "undelivered", "canceled"]);
// A status's glyph (kept in the text for screen readers, copy and paste, and tests) and icon.
const TICKS = { sent: ["✓", "sent"], delivered: ["✓✓", "double"], read: ["✓✓", "double"] };
const COLOURS = ["#06cf9c", "#25a3e1", "#a35ddb", "#ef6950", "#d99a06", "#53bdeb", "#e26ab6"];
const MEDIA_LABELS = { image: "📷 Photo", audio: "🎤 Audio" };
const RECORDING_TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"];
const PROVIDERS = {
  // provider: [what the header says, what its tooltip says]
  sandbox: ["echo, not a real model", "the sandbox's local echo responder, not a real model"],
  openai: ["OpenAI", "OpenAI"],
  compatible: ["compatible server", "OpenAI-compatible server"],
};

const state = {
  config: null,
  users: new Map(), // number -> {number, name, custom}
  current: null, // number
  messages: new Map(), // id -> message
  typingUntil: new Map(), // number -> Date
  unread: new Map(), // number -> count
  typingTimer: null,
  pending: [], // files chosen with the paperclip, sent with the next message
  recorder: null, // the MediaRecorder while a voice note is being recorded
  desk: [], // the fake Chatwoot's conversations, each with its messages, open ones first
  deskCurrent: null, // the display id of the one shown
};

const $ = (id) => document.getElementById(id);
const icon = (name) => $(`icon-${name}`).content.cloneNode(true); // a <template> in the page
const rowOf = (id) => document.querySelector(`.msg[data-id="${CSS.escape(id)}"]`);
const kindOf = (contentType) => (contentType || "").split("/")[0];
const fileLabel = (kind) => MEDIA_LABELS[kind] ?? "📄 File"; // kind: image, audio, video, ...
const userMessages = (number) => [...state.messages.values()].filter((m) => m.user === number);
const isTyping = (number) => state.typingUntil.get(number) > new Date(); // false if none

// An element. `props` is its class, or properties to set; the children are nodes or text
// (null, undefined and false are left out). Text is never parsed as HTML.
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, typeof props === "string" ? { className: props } : props);
  node.append(...children.filter((child) => child != null && child !== false));
  return node;
}

const link = (className, href, ...children) =>
  el("a", { className, href, target: "_blank", rel: "noopener noreferrer" }, ...children);

// ---- formatting ----

function normalise(raw) {
  let number = raw.trim().replace(/^whatsapp:/, "");
  number = number.replace(/[\s\-().]/g, "");
  if (number.startsWith("00")) number = "+" + number.slice(2);
  else if (!number.startsWith("+")) number = "+" + number;
  return /^\+[1-9][0-9]{6,14}$/.test(number) ? number : null;
}

function prettyNumber(number) {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(number);
  return m ? `+1 ${m[1]} ${m[2]} ${m[3]}` : number;
}

function colourOf(number) {
  let hash = 0;
  for (const c of number) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return COLOURS[hash % COLOURS.length];
}

const time = (iso) =>
  new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

function dayLabel(iso) {
  const date = new Date(iso);
  const yesterday = new Date();
  yesterday.setDate(yesterday.getDate() - 1);
  if (date.toDateString() === new Date().toDateString()) return "Today";
  if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
  return date.toLocaleDateString([], { day: "numeric", month: "long", year: "numeric" });
}

// WhatsApp's formatting (```block```, `code`, *bold*, _italic_, ~strike~), then links: the
// text of group n goes into an element FORMAT_TAGS[n - 1], or a link.
const FORMAT = new RegExp(
  /```([\s\S]+?)```|`([^`\n]+)`|\*([^*\n]+)\*|_([^_\n]+)_|~([^~\n]+)~/.source +
    /|(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'])/.source,
  "g",
);
const FORMAT_TAGS = ["pre", "code", "strong", "em", "s"];

function formatted(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(FORMAT)) {
    const group = match.findIndex((part, index) => index > 0 && part !== undefined);
    const [tag, inner] = [FORMAT_TAGS[group - 1], match[group]];
    const node = tag ? el(tag, null, inner) : link("", inner, inner);
    fragment.append(text.slice(last, match.index), node);
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

// ---- users (the sidebar), and the choice saved in the browser ----

function addUser(number, name, custom = false) {
  const known = state.users.get(number);
  if (!known) {
    state.users.set(number, { number, name: name || prettyNumber(number), custom });
  } else if (name && known.name === prettyNumber(number)) {
    known.name = name; // a user first seen by number, who has a profile name after all
  }
}

function save() {
  const custom = [...state.users.values()].filter((user) => user.custom);
  const desk = !$("desk").hidden;
  localStorage.setItem(STORAGE, JSON.stringify({ current: state.current, custom, desk }));
}

function renderUsers() {
  const items = [...state.users.values()].map((user) => el("li", null, userButton(user)));
  $("user-list").replaceChildren(...items);
}

function userButton({ number, name }) {
  const initial = name.startsWith("+") ? icon("person") : name[0].toUpperCase();
  const avatar = el("span", "avatar", initial);
  avatar.style.background = colourOf(number);
  const last = userMessages(number).at(-1);
  const typing = isTyping(number);
  let preview = prettyNumber(number);
  if (last) preview = (last.direction === "in" ? "You: " : "") + (last.body || mediaLabel(last));
  if (typing) preview = "typing…";
  const unread = number === state.current ? 0 : state.unread.get(number) || 0;
  const when = last && el("span", "user-time", time(last.at));
  const badge = unread > 0 && el("span", "unread", unread);
  const previewClass = typing ? "user-preview typing" : "user-preview";
  const text = el(
    "span",
    "user-text",
    el("span", "user-row", el("span", "user-name", name), when),
    el("span", "user-row", el("span", previewClass, preview), badge),
  );
  const current = String(number === state.current);
  const onclick = () => selectUser(number);
  const button = el("button", { className: "user", type: "button", ariaCurrent: current, onclick });
  button.dataset.number = number;
  button.append(avatar, text);
  return button;
}

function selectUser(number) {
  state.current = number;
  state.unread.set(number, 0);
  save();
  $("app").classList.remove("users-open");
  renderUsers();
  renderThread();
  $("text").focus();
}

// ---- the thread ----

// A new day starts with its label; the first bubble of a run from one side has a tail.
function appendBubble(message) {
  const thread = $("thread");
  const rows = thread.querySelectorAll(".msg");
  const previous = state.messages.get(rows[rows.length - 1]?.dataset.id);
  const day = dayLabel(message.at);
  const newDay = !previous || dayLabel(previous.at) !== day;
  if (newDay) thread.append(el("div", "day", day));
  const row = bubble(message);
  if (newDay || previous.direction !== message.direction) row.classList.add("first");
  thread.append(row);
  updateBubble(row, message);
}

function bubble(message) {
  const media = message.media || [];
  const box = el("div", "bubble", ...media.map(attachment));
  if (message.body || !media.length) {
    const command = /^\/\w+$/.test(message.body.trim());
    box.append(el("span", command ? "text command" : "text", formatted(message.body)));
  }
  const links = media.length ? [] : message.media_urls || [];
  box.append(...links.map((url) => link("media", url, `Attachment: ${url}`)));
  // WhatsApp's trick: an invisible copy of the time at the end of the text keeps room for
  // the real one, which sits in the bottom right corner.
  box.append(
    el("span", { className: "meta-spacer", ariaHidden: "true" }, time(message.at)),
    el("span", "meta", el("time", { dateTime: message.at }, time(message.at)), el("span", "ticks")),
  );
  const row = el("div", message.direction === "in" ? "msg mine" : "msg theirs", box);
  row.dataset.id = message.id;
  return row;
}

// A user's photo (a thumbnail), voice note or audio file (a player), or other file (a name).
function attachment({ content_type: type, preview_url: src }) {
  if (kindOf(type) === "image" && src) {
    return link("attachment photo", src, el("img", { src, alt: "Photo", loading: "lazy" }));
  }
  if (kindOf(type) === "audio" && src) {
    return el("audio", { className: "attachment voice", controls: true, preload: "metadata", src });
  }
  return el("span", "attachment file", `📄 ${type || "file"}`);
}

function mediaLabel(message) {
  const first = message.media?.[0];
  if (!first) return message.media_urls?.length ? "📎 Attachment" : "";
  return fileLabel(kindOf(first.content_type));
}

// The ticks and, under a failed message, why it failed.
function updateBubble(row, message) {
  const { status, error } = message;
  const failed = FAILED.has(status);
  const [glyph, name] = failed ? ["!", "failed"] : (TICKS[status] ?? ["", "clock"]);
  const ticks = row.querySelector(".ticks");
  ticks.className = failed ? "ticks failed" : status === "read" ? "ticks read" : "ticks";
  Object.assign(ticks, { title: error || status, ariaLabel: status });
  ticks.replaceChildren(icon(name), glyph && el("span", "visually-hidden", glyph));
  row.dataset.status = status;
  const next = row.nextElementSibling;
  const errorLine = next?.classList.contains("error-line") ? next : null;
  if (failed && error) {
    if (errorLine) errorLine.textContent = error;
    else row.after(el("div", "error-line", error));
  } else {
    errorLine?.remove();
  }
}

function nearBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
}

function scrollDown() {
  $("messages").scrollTop = $("messages").scrollHeight;
}

function renderThread() {
  $("thread").replaceChildren();
  for (const message of userMessages(state.current)) {
    appendBubble(message);
    markRead(message);
  }
  renderTyping();
  scrollDown();
}

// A reply shown in the open thread is read: the fake Twilio then reports it (blue ticks).
const marked = new Set();
document.addEventListener("visibilitychange", () => userMessages(state.current).forEach(markRead));

function markRead({ id, user, direction, status }) {
  if (direction !== "out" || status === "read" || marked.has(id)) return;
  if (user !== state.current || document.hidden) return;
  marked.add(id);
  const url = `/_sandbox/twilio/messages/${encodeURIComponent(id)}/read`;
  fetch(url, { method: "POST" }).catch(() => marked.delete(id));
}

// "typing…" in the header, the dots in the thread, and a timer for when the typing ends.
function renderTyping() {
  const typing = isTyping(state.current);
  const user = state.users.get(state.current);
  const business = user && prettyNumber(state.config.business_number.replace(/^whatsapp:/, ""));
  const subtitle = user ? `business account ${business} · you are ${user.name}` : "online";
  $("typing").hidden = !typing;
  $("subtitle").classList.toggle("typing", typing);
  $("subtitle").textContent = typing ? "typing…" : subtitle;
  clearTimeout(state.typingTimer);
  const ends = [...state.typingUntil.values()].map(Number).filter((end) => end > Date.now());
  if (!ends.length) return;
  const delay = Math.min(...ends) - Date.now() + 50;
  state.typingTimer = setTimeout(() => {
    renderTyping();
    renderUsers();
  }, delay);
}

// ---- events from the sandbox ----

function onMessage(message) {
  const isNew = !state.messages.has(message.id);
  state.messages.set(message.id, message);
  addUser(message.user, message.profile_name);
  if (message.direction === "out") state.typingUntil.delete(message.user);
  if (message.user === state.current) {
    const stick = nearBottom() || message.direction === "in";
    const row = rowOf(message.id);
    if (row) updateBubble(row, message);
    else appendBubble(message);
    renderTyping();
    if (stick) scrollDown();
    markRead(message);
  } else if (isNew && message.direction === "out") {
    state.unread.set(message.user, (state.unread.get(message.user) || 0) + 1);
  }
  renderUsers();
}

function onStatus({ id, status, error }) {
  const message = state.messages.get(id);
  if (!message) return;
  Object.assign(message, { status, error });
  const row = rowOf(id);
  if (row) updateBubble(row, message);
}

function onTyping({ user, until }) {
  state.typingUntil.set(user, new Date(until));
  addUser(user);
  renderTyping();
  if (user === state.current && nearBottom()) scrollDown();
  renderUsers();
}

function onSnapshot({ messages, typing }) {
  state.messages = new Map(messages.map((message) => [message.id, message]));
  state.typingUntil = new Map(typing.map(({ user, until }) => [user, new Date(until)]));
  for (const message of messages) addUser(message.user, message.profile_name);
  renderUsers();
  renderThread();
  loadDesk();
}

function connect() {
  const source = new EventSource(`${API}/events`);
  const handlers = { snapshot: onSnapshot, message: onMessage, status: onStatus, typing: onTyping };
  handlers.desk = loadDesk; // a Chatwoot conversation changed: read them all again
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
  }
  source.addEventListener("open", () => ($("offline-banner").hidden = true));
  source.addEventListener("error", () => ($("offline-banner").hidden = false));
}

// ---- sending ----

let toastTimer = null;
function toast(text) {
  Object.assign($("toast"), { textContent: text, hidden: false });
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => ($("toast").hidden = true), 6000);
}

const post = (url, contentType, body) =>
  fetch(url, { method: "POST", headers: { "Content-Type": contentType }, body });

// Why the sandbox refused: its `detail` when that is text, else the HTTP status.
async function problem(answer) {
  const { detail } = await answer.json().catch(() => ({}));
  return typeof detail === "string" ? detail : `HTTP ${answer.status}`;
}

// Files go to the sandbox's Twilio first (as WhatsApp's media does), all on one message;
// the webhook then carries their URLs, as Twilio's does.
async function upload(files) {
  const media = [];
  let messageSid = null;
  for (const file of files) {
    const query = messageSid ? `?message_sid=${encodeURIComponent(messageSid)}` : "";
    const answer = await post(UPLOAD + query, file.type || "application/octet-stream", file);
    if (!answer.ok) throw new Error(`${file.name || "the file"}: ${await problem(answer)}`);
    const { message_sid, url, content_type, preview_url } = await answer.json();
    messageSid = message_sid;
    media.push({ url, content_type, preview_url });
  }
  return { media, message_sid: messageSid };
}

async function send(body, files = []) {
  if (!state.current || (!body.trim() && !files.length)) return;
  const { name } = state.users.get(state.current);
  const payload = { user: state.current, body, profile_name: name.startsWith("+") ? null : name };
  try {
    if (files.length) Object.assign(payload, await upload(files));
    const answer = await post(`${API}/messages`, "application/json", JSON.stringify(payload));
    if (!answer.ok) toast(`Not sent: ${await problem(answer)}`);
  } catch (error) {
    const offline = "the sandbox does not answer. Is make run still running?";
    toast(`Not sent: ${error instanceof TypeError ? offline : error.message}`);
  }
}

// The text typed so far, taken out of the text box.
function takeText() {
  const text = $("text").value;
  $("text").value = "";
  return text;
}

// ---- attachments: files picked with the paperclip wait above the text box ----

function renderPending() {
  const strip = $("pending");
  for (const image of strip.querySelectorAll("img")) URL.revokeObjectURL(image.src);
  strip.replaceChildren(...state.pending.map(pendingItem));
  strip.hidden = !state.pending.length;
  if (state.pending.length) strip.append(el("span", "pending-hint", "Add a caption, then send"));
}

function pendingItem(file, index) {
  const preview = file.type.startsWith("image/")
    ? el("img", { src: URL.createObjectURL(file), alt: file.name })
    : el("span", "pending-name", `${file.type.startsWith("audio/") ? "🎤" : "📄"} ${file.name}`);
  const remove = el("button", { className: "pending-remove", type: "button" }, "×");
  remove.ariaLabel = `Remove ${file.name}`;
  remove.addEventListener("click", () => {
    state.pending.splice(index, 1);
    renderPending();
  });
  return el("div", "pending-item", preview, remove);
}

// ---- voice notes: click the microphone to record, click again to stop and send ----

function showRecording(recording) {
  $("record").classList.toggle("recording", recording);
  $("record").ariaPressed = String(recording);
  $("record").title = recording ? "Stop and send the voice message" : "Record a voice message";
}

async function toggleRecording() {
  if (state.recorder) return state.recorder.stop();
  if (!navigator.mediaDevices || typeof MediaRecorder === "undefined") {
    return toast("This browser cannot record audio here (it needs localhost or https).");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch {
    return toast("No microphone: the browser refused or found none.");
  }
  const mimeType = RECORDING_TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
  const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : {});
  const chunks = [];
  const to = state.current;
  recorder.addEventListener("dataavailable", (event) => {
    if (event.data.size) chunks.push(event.data);
  });
  recorder.addEventListener("stop", () => {
    for (const track of stream.getTracks()) track.stop();
    state.recorder = null;
    showRecording(false);
    const type = (recorder.mimeType || mimeType || "audio/webm").split(";")[0];
    const blob = new Blob(chunks, { type });
    if (!blob.size || to !== state.current) return;
    const name = `voice-note.${type.split("/")[1] || "webm"}`;
    send(takeText(), [new File([blob], name, { type })]);
  });
  recorder.start();
  state.recorder = recorder;
  showRecording(true);
}

// ---- the agent desk: the sandbox's Chatwoot, where you are the person a user is handed to ----

let deskLoads = 0;
async function loadDesk() {
  const load = ++deskLoads;
  let conversations;
  try {
    conversations = await (await fetch(DESK)).json();
  } catch {
    return; // the sandbox is down: the offline banner says so, and the stream reconnects
  }
  if (load !== deskLoads) return; // a later answer is on its way
  const rank = ({ status }) => DESK_ORDER.indexOf(status);
  conversations.sort((a, b) => rank(a) - rank(b) || b.last_activity_at - a.last_activity_at);
  state.desk = conversations;
  renderDesk();
}

function renderDesk() {
  const open = state.desk.filter(({ status }) => status === "open").length;
  Object.assign($("desk-count"), { textContent: open, hidden: !open });
  if (!state.desk.some(({ id }) => id === state.deskCurrent)) {
    state.deskCurrent = state.desk[0]?.id ?? null;
  }
  $("desk-list").replaceChildren(...state.desk.map(deskItem));
  $("desk-empty").hidden = state.desk.length > 0;
  renderDeskThread();
}

// A contact, an agent or a bot: its name, else a contact's number.
const nameOf = (sender) => sender?.name || prettyNumber(sender?.phone_number || "") || "?";

// A conversation in the list: the contact, the status, and the last two messages.
function deskItem({ id, status, meta, messages }) {
  const contact = nameOf(meta.sender);
  const onclick = () => {
    state.deskCurrent = id;
    renderDesk();
    $("desk-text").focus();
  };
  const current = String(id === state.deskCurrent);
  const props = { className: "desk-item", type: "button", ariaCurrent: current, onclick };
  const chip = el("span", `desk-status ${status}`, status);
  const button = el(
    "button",
    props,
    el("span", "user-row", el("span", "user-name", contact), chip),
    ...messages.slice(-2).map((message) => el("span", "desk-line", ...said(message))),
  );
  button.dataset.id = id;
  return el("li", null, button);
}

// Who wrote a message, and what: a private note says so.
function said({ private: note, sender, content, attachments }) {
  const files = (attachments || []).map(({ file_type }) => fileLabel(file_type));
  const text = [content, ...files].filter(Boolean).join(" ");
  return [note && el("span", "note-tag", "Private note · "), `${nameOf(sender)}: ${text}`];
}

function renderDeskThread() {
  const conversation = state.desk.find(({ id }) => id === state.deskCurrent);
  const box = $("desk-thread");
  const same = box.dataset.id === String(conversation?.id);
  const stick = !same || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  box.replaceChildren(...(conversation?.messages || []).map(deskMessage));
  box.dataset.id = conversation?.id ?? "";
  box.hidden = $("desk-reply").hidden = !conversation;
  for (const button of $("desk-reply").querySelectorAll(".status-button")) {
    button.disabled = conversation?.status === button.dataset.status;
  }
  if (stick) box.scrollTop = box.scrollHeight;
}

// Chatwoot's message types: 0 incoming (the user's), 1 outgoing, 2 activity.
function deskMessage(message) {
  const { message_type: type, private: note, sender, content, attachments } = message;
  const kind = note ? "note" : ["incoming", "outgoing", "activity"][type] ?? "outgoing";
  const author = type !== 2 && (note ? "Private note · " : "") + nameOf(sender);
  const files = (attachments || []).map((a) => link("media", a.data_url, fileLabel(a.file_type)));
  const when = new Date(message.created_at * 1000).toISOString();
  return el(
    "div",
    `desk-msg ${kind}`,
    author && el("div", "desk-author", author),
    content && el("span", "text", formatted(content)),
    ...files,
    el("time", { className: "desk-time", dateTime: when }, time(when)),
  );
}

// A reply or a status, as the agent: the fake Chatwoot then posts its signed webhooks.
async function deskPost(action, payload) {
  const url = `${DESK}/${state.deskCurrent}/${action}`;
  try {
    const answer = await post(url, "application/json", JSON.stringify(payload));
    if (!answer.ok) toast(`The desk refused: ${await problem(answer)}`);
  } catch {
    toast("The desk does not answer. Is make run still running?");
  }
}

function showDesk(open) {
  $("desk").hidden = !open;
  $("show-desk").ariaExpanded = String(open);
  save();
}

// ---- start ----

async function start() {
  state.config = await (await fetch(`${API}/config`)).json();
  const { presets, model_label: label, model_provider: provider } = state.config;
  const [short, long] = PROVIDERS[provider] || [provider];
  $("model-name").textContent = label;
  $("model-kind").textContent = short;
  $("model").title = `Answers come from ${label} (${long})`;
  const real = !!state.config.twilio_real;
  $("twilio-banner").hidden = !real;
  if (real) {
    $("notice").textContent =
      "What you send here is signed with your Twilio auth token and posted to ingress, " +
      "as Twilio would post it.";
    $("side-footer").textContent =
      "Every message is a Twilio-signed webhook to ingress; the sender delivers the replies " +
      "through the real Twilio.";
  }
  // Media goes through the sandbox's Twilio: with real Twilio there is nowhere to keep it.
  $("attach").hidden = $("record").hidden = real;
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(STORAGE) || "{}");
  } catch {} // not JSON: start afresh
  for (const preset of presets) addUser(preset.number, preset.name);
  for (const custom of saved.custom || []) addUser(custom.number, custom.name, true);
  state.current = state.users.has(saved.current) ? saved.current : presets[0].number;
  showDesk(!!saved.desk);
  renderUsers();
  renderThread();
  connect();

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const files = state.pending;
    state.pending = [];
    renderPending();
    send(takeText(), files);
    $("text").focus();
  });
  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", (event) => {
    state.pending.push(...event.target.files);
    event.target.value = "";
    renderPending();
    $("text").focus();
  });
  $("record").addEventListener("click", () => toggleRecording());
  $("reset").addEventListener("click", () => send("/reset"));
  $("show-users").addEventListener("click", () => $("app").classList.toggle("users-open"));
  $("show-desk").addEventListener("click", () => showDesk($("desk").hidden));
  $("hide-desk").addEventListener("click", () => showDesk(false));
  $("desk-reply").addEventListener("submit", (event) => {
    event.preventDefault();
    const content = $("desk-text").value;
    if (!content.trim()) return;
    $("desk-text").value = "";
    deskPost("reply", { content });
  });
  for (const button of $("desk-reply").querySelectorAll(".status-button")) {
    button.addEventListener("click", () => deskPost("status", { status: button.dataset.status }));
  }
  $("new-user").addEventListener("submit", (event) => {
    event.preventDefault();
    const number = normalise($("new-number").value);
    const error = number ? "" : "Type a number in international format, e.g. +1 555 000 4242.";
    $("new-user-error").textContent = error;
    if (!number) return;
    $("new-number").value = "";
    addUser(number, null, true);
    selectUser(number);
  });
  $("text").focus();
}

start().catch(() => ($("offline-banner").hidden = false));
