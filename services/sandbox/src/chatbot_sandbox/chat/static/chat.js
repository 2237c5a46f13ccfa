// The sandbox chat page: pick a user, send messages as signed webhooks (through the sandbox),
// and show the replies live from the sandbox's event stream; and the agent desk, where a person
// answers the users handed to the sandbox's Chatwoot. No framework, no build step.

const API = "/_sandbox/chat";
const DESK = "/_sandbox/chatwoot/conversations";
const DESK_ORDER = ["open", "pending", "resolved"]; // the desk lists open ones first
const STORAGE = "chatbot-sandbox-chat";
const FAILED = new Set(["failed", "undelivered", "canceled"]);
const TICKS = { sent: "✓", delivered: "✓✓", read: "✓✓" }; // else a clock, or "!" (failed)
const FILE_LABELS = { image: "📷 Photo", audio: "🎤 Audio" };
const MODEL_KINDS = { sandbox: "echo, not a real model", openai: "OpenAI" };

const state = {
  config: null,
  users: new Map(), // number -> {number, name, custom}
  current: null, // number
  messages: new Map(), // id -> message
  typingUntil: new Map(), // number -> Date
  pending: [], // files chosen with the paperclip, sent with the next message
  recorder: null, // the MediaRecorder while a voice note is being recorded
  desk: [], // the fake Chatwoot's conversations, each with its messages, open ones first
  deskCurrent: null, // the display id of the one shown
};

const $ = (id) => document.getElementById(id);
const rowOf = (id) => document.querySelector(`.msg[data-id="${CSS.escape(id)}"]`);
const kindOf = (contentType) => (contentType || "").split("/")[0];
const fileLabel = (kind) => FILE_LABELS[kind] ?? "📄 File"; // kind: image, audio, video, ...
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
  let number = raw.trim().replace(/^whatsapp:/, "").replace(/[\s\-().]/g, "");
  if (number.startsWith("00")) number = number.slice(2);
  if (!number.startsWith("+")) number = "+" + number;
  return /^\+[1-9][0-9]{6,14}$/.test(number) ? number : null;
}

function prettyNumber(number) {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(number);
  return m ? `+1 ${m[1]} ${m[2]} ${m[3]}` : number;
}

const time = (iso) =>
  new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

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

// The users in the sidebar; and in the header, "typing…" or who you chat as, and with whom.
function renderUsers() {
  const items = [...state.users.values()].map((user) => el("li", null, userButton(user)));
  $("user-list").replaceChildren(...items);
  const business = prettyNumber(state.config.business_number.replace(/^whatsapp:/, ""));
  const subtitle = `business account ${business} · you are ${state.users.get(state.current).name}`;
  $("subtitle").textContent = isTyping(state.current) ? "typing…" : subtitle;
}

// A user: a name's initial (or a number's last two digits), the last message and its time.
function userButton({ number, name }) {
  const initial = name.startsWith("+") ? number.slice(-2) : name[0].toUpperCase();
  const last = userMessages(number).at(-1);
  let preview = prettyNumber(number);
  const attached = () => fileLabel(kindOf(last.media?.[0]?.content_type));
  if (last) preview = (last.direction === "in" ? "You: " : "") + (last.body || attached());
  if (isTyping(number)) preview = "typing…";
  const current = String(number === state.current);
  const onclick = () => selectUser(number);
  const button = el(
    "button",
    { className: "user", type: "button", ariaCurrent: current, onclick },
    el("span", { className: "avatar", ariaHidden: "true" }, initial),
    el("span", "user-name", name),
    last && el("span", "user-time", time(last.at)),
    el("span", "user-preview", preview),
  );
  button.dataset.number = number;
  return button;
}

function selectUser(number) {
  state.current = number;
  save();
  $("app").classList.remove("users-open");
  renderUsers();
  renderThread();
  $("text").focus();
}

// ---- the thread ----

// A bubble: the attachments, the text, links to a reply's media, then the time and ticks; and
// under it, why it failed.
function appendBubble(message) {
  const media = message.media || [];
  const command = /^\/\w+$/.test(message.body.trim());
  const text = (message.body || !media.length) && formatted(message.body);
  const ticks = el("span", { className: "ticks", role: "img" });
  const links = media.length ? [] : message.media_urls || [];
  const box = el(
    "div",
    "bubble",
    ...media.map(attachment),
    text && el("span", command ? "text command" : "text", text),
    ...links.map((url) => link("media", url, `Attachment: ${url}`)),
    el("span", "meta", time(message.at), ticks),
  );
  const row = el("div", message.direction === "in" ? "msg mine" : "msg theirs", box);
  row.append(el("div", "error"));
  row.dataset.id = message.id;
  $("thread").append(row);
  updateBubble(row, message);
}

// A user's photo (a thumbnail), voice note or audio file (a player), or other file (a name).
function attachment({ content_type: type, preview_url: src }) {
  if (kindOf(type) === "image" && src) {
    return link("attachment photo", src, el("img", { src, alt: "Photo", loading: "lazy" }));
  }
  if (kindOf(type) === "audio" && src) {
    return el("audio", { className: "attachment voice", controls: true, preload: "metadata", src });
  }
  return el("span", "attachment", `📄 ${type || "file"}`);
}

function updateBubble(row, { status, error }) {
  const failed = FAILED.has(status);
  const ticks = row.querySelector(".ticks");
  ticks.className = `ticks ${failed ? "failed" : status}`;
  ticks.textContent = failed ? "!" : (TICKS[status] ?? "◷");
  Object.assign(ticks, { title: error || status, ariaLabel: status });
  row.querySelector(".error").textContent = (failed && error) || "";
  row.dataset.status = status;
}

function scrollDown() {
  $("messages").scrollTop = $("messages").scrollHeight;
}

// Whether the reader is at the latest messages (then a new one scrolls into view).
function nearBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
}

function renderThread() {
  $("thread").replaceChildren();
  for (const message of userMessages(state.current)) {
    appendBubble(message);
    markRead(message);
  }
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

// A user is being answered until `until` (or until the reply comes): "typing…" until then.
function setTyping(user, until) {
  state.typingUntil.set(user, new Date(until));
  addUser(user);
  renderUsers();
  setTimeout(renderUsers, new Date(until) - Date.now() + 50);
}

// ---- events from the sandbox ----

// A new message, or new ticks on one: a reply ends the typing.
function onMessage(message) {
  const isNew = !state.messages.has(message.id);
  state.messages.set(message.id, message);
  addUser(message.user, message.profile_name);
  if (isNew && message.direction === "out") state.typingUntil.delete(message.user);
  if (message.user === state.current) {
    const stick = isNew && (nearBottom() || message.direction === "in");
    const row = rowOf(message.id);
    if (row) updateBubble(row, message);
    else appendBubble(message);
    if (stick) scrollDown();
    markRead(message);
  }
  renderUsers();
}

function onStatus({ id, status, error }) {
  const message = state.messages.get(id);
  if (message) onMessage({ ...message, status, error });
}

function onSnapshot({ messages, typing }) {
  state.messages = new Map(messages.map((message) => [message.id, message]));
  for (const message of messages) addUser(message.user, message.profile_name);
  state.typingUntil = new Map();
  for (const { user, until } of typing) setTyping(user, until);
  renderUsers();
  renderThread();
  loadDesk();
}

function connect() {
  const source = new EventSource(`${API}/events`);
  const handlers = { snapshot: onSnapshot, message: onMessage, status: onStatus };
  handlers.typing = ({ user, until }) => setTyping(user, until);
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
const postJson = (url, payload) => post(url, "application/json", JSON.stringify(payload));

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
    const type = file.type || "application/octet-stream";
    const answer = await post(`/_sandbox/twilio/media${query}`, type, file);
    if (!answer.ok) throw new Error(`${file.name || "the file"}: ${await problem(answer)}`);
    const { message_sid, url, content_type, preview_url } = await answer.json();
    messageSid = message_sid;
    media.push({ url, content_type, preview_url });
  }
  return { media, message_sid: messageSid };
}

async function send(body, files = []) {
  if (!body.trim() && !files.length) return;
  const { name } = state.users.get(state.current);
  const payload = { user: state.current, body, profile_name: name.startsWith("+") ? null : name };
  try {
    if (files.length) Object.assign(payload, await upload(files));
    const answer = await postJson(`${API}/messages`, payload);
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

// Files picked with the paperclip wait above the text box, each with a button to drop it.
function renderPending() {
  const strip = $("pending");
  for (const image of strip.querySelectorAll("img")) URL.revokeObjectURL(image.src);
  strip.replaceChildren(...state.pending.map(pendingItem), "Add a caption, then send");
  strip.hidden = !state.pending.length;
}

function pendingItem(file, index) {
  const preview = file.type.startsWith("image/")
    ? el("img", { src: URL.createObjectURL(file), alt: file.name })
    : `${fileLabel(kindOf(file.type))}: ${file.name}`;
  const onclick = () => {
    state.pending.splice(index, 1);
    renderPending();
  };
  const remove = el("button", { type: "button", ariaLabel: `Remove ${file.name}`, onclick }, "×");
  return el("span", "pending-item", preview, remove);
}

// ---- voice notes: click the microphone to record, click again to stop and send ----

async function toggleRecording() {
  if (state.recorder) return state.recorder.stop();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true }); // localhost or https
  } catch {
    return toast("No microphone: the browser refused, found none, or needs localhost or https.");
  }
  let recorder;
  try {
    recorder = new MediaRecorder(stream);
  } catch {
    for (const track of stream.getTracks()) track.stop();
    return toast("This browser cannot record a voice note.");
  }
  const chunks = [];
  const to = state.current;
  recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
  recorder.addEventListener("stop", () => {
    for (const track of stream.getTracks()) track.stop();
    state.recorder = null;
    $("record").ariaPressed = "false";
    const type = recorder.mimeType.split(";")[0] || "audio/webm";
    const file = new File(chunks, `voice-note.${type.split("/")[1]}`, { type });
    if (file.size && to === state.current) send(takeText(), [file]);
  });
  recorder.start();
  state.recorder = recorder;
  $("record").ariaPressed = "true";
}

// ---- the agent desk: the sandbox's Chatwoot, where you are the person a user is handed to ----

let deskLoads = 0;
async function loadDesk() {
  const load = ++deskLoads;
  const conversations = await fetch(DESK)
    .then((answer) => answer.json())
    .catch(() => null); // the sandbox is down: the offline banner says so
  if (!conversations || load !== deskLoads) return; // or a later answer is on its way
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

// A contact or an agent: its name, else a contact's number.
const nameOf = (sender) => sender?.name || prettyNumber(sender?.phone_number || "") || "?";

// A conversation in the list: the contact, the status, and the last two messages.
function deskItem({ id, status, meta, messages }) {
  const onclick = () => {
    state.deskCurrent = id;
    renderDesk();
    $("desk-text").focus();
  };
  const current = String(id === state.deskCurrent);
  const button = el(
    "button",
    { className: "desk-item", type: "button", ariaCurrent: current, onclick },
    el("span", "user-name", nameOf(meta.sender)),
    el("span", "desk-status", status),
    ...messages.slice(-2).map((message) => el("span", "desk-line", said(message))),
  );
  return el("li", null, button);
}

// Who wrote a message, and what: a private note says so.
function said({ private: note, sender, content, attachments }) {
  const files = (attachments || []).map(({ file_type }) => fileLabel(file_type));
  const text = [content, ...files].filter(Boolean).join(" ");
  return `${note ? "Private note · " : ""}${nameOf(sender)}: ${text}`;
}

function renderDeskThread() {
  const conversation = state.desk.find(({ id }) => id === state.deskCurrent);
  const box = $("desk-thread");
  const stick = box.dataset.id !== String(conversation?.id) ||
    box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  box.replaceChildren(...(conversation?.messages || []).map(deskMessage));
  box.dataset.id = conversation?.id ?? "";
  box.hidden = $("desk-reply").hidden = !conversation;
  if (stick) box.scrollTop = box.scrollHeight;
  for (const button of $("desk-reply").querySelectorAll(".status-button")) {
    button.disabled = conversation?.status === button.dataset.status;
  }
}

// Chatwoot's message types: 0 incoming (the user's), 1 outgoing (an agent's, or a note).
function deskMessage(message) {
  const { message_type: type, private: note, sender, content, attachments } = message;
  const kind = note ? "note" : type === 0 ? "incoming" : "outgoing";
  const files = (attachments || []).map((a) => link("media", a.data_url, fileLabel(a.file_type)));
  const when = new Date(message.created_at * 1000).toISOString();
  return el(
    "div",
    `desk-msg ${kind}`,
    el("div", "desk-author", (note ? "Private note · " : "") + nameOf(sender)),
    content && el("span", "text", formatted(content)),
    ...files,
    el("time", { className: "desk-time", dateTime: when }, time(when)),
  );
}

// A reply or a status, as the agent: the fake Chatwoot then posts its signed webhooks.
async function deskPost(action, payload) {
  try {
    const answer = await postJson(`${DESK}/${state.deskCurrent}/${action}`, payload);
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
  const { presets, model_label: label, model_provider: provider, twilio_real: real } = state.config;
  $("model-name").textContent = label;
  $("model-kind").textContent = MODEL_KINDS[provider] ?? "an OpenAI-compatible server";
  $("model").title = `Answers come from ${label}`;
  // With real Twilio the banner says where replies go; media has nowhere to be kept.
  $("twilio-banner").hidden = !real;
  for (const id of ["notice", "attach", "record"]) $(id).hidden = real;
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
    $("desk-text").value = "";
    if (content.trim()) deskPost("reply", { content });
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
