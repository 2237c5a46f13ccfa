// The sandbox chat page: pick a user, send messages as signed webhooks (through the sandbox),
// and show the replies live from the sandbox's event stream. No framework, no build step.
"use strict";

(() => {
  const API = "/_sandbox/chat";
  const UPLOAD = "/_sandbox/twilio/media";
  const STORAGE = "chatbot-sandbox-chat";
  const TICKS = { sent: "✓", delivered: "✓✓", read: "✓✓" };
  const FAILED = new Set(["failed", "undelivered", "canceled"]);
  const COLOURS = ["#06cf9c", "#25a3e1", "#a35ddb", "#ef6950", "#d99a06", "#53bdeb", "#e26ab6"];

  const $ = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const state = {
    config: null,
    users: new Map(), // number -> {number, name}
    current: null, // number
    messages: new Map(), // id -> message
    typingUntil: new Map(), // number -> Date
    unread: new Map(), // number -> count
    typingTimer: null,
    pending: [], // files chosen with the paperclip, sent with the next message
    recorder: null, // the MediaRecorder while a voice note is being recorded
  };

  // ---- persistence: the chosen user and the numbers typed in ----

  function loadSaved() {
    try {
      return JSON.parse(localStorage.getItem(STORAGE) || "{}");
    } catch {
      return {};
    }
  }

  function save() {
    const custom = [...state.users.values()].filter((u) => u.custom);
    localStorage.setItem(STORAGE, JSON.stringify({ current: state.current, custom }));
  }

  // ---- formatting ----

  function normalise(raw) {
    let number = raw.trim().replace(/^whatsapp:/, "").replace(/[\s\-().]/g, "");
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

  function time(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }

  function dayLabel(iso) {
    const date = new Date(iso);
    const today = new Date();
    const yesterday = new Date(today);
    yesterday.setDate(today.getDate() - 1);
    if (date.toDateString() === today.toDateString()) return "Today";
    if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
    return date.toLocaleDateString([], { day: "numeric", month: "long", year: "numeric" });
  }

  // WhatsApp's formatting (*bold*, _italic_, ~strike~, `code`, ```block```) and links, built
  // as DOM nodes: message text is never parsed as HTML.
  const FORMAT = /```([\s\S]+?)```|`([^`\n]+)`|\*([^*\n]+)\*|_([^_\n]+)_|~([^~\n]+)~|(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'])/g;

  function formatted(text) {
    const fragment = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(FORMAT)) {
      if (match.index > last) fragment.append(text.slice(last, match.index));
      const [, block, code, bold, italic, strike, url] = match;
      if (block !== undefined) fragment.append(el("pre", "", block));
      else if (code !== undefined) fragment.append(el("code", "", code));
      else if (bold !== undefined) fragment.append(el("strong", "", bold));
      else if (italic !== undefined) fragment.append(el("em", "", italic));
      else if (strike !== undefined) fragment.append(el("s", "", strike));
      else {
        const link = el("a", "", url);
        link.href = url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        fragment.append(link);
      }
      last = match.index + match[0].length;
    }
    if (last < text.length) fragment.append(text.slice(last));
    return fragment;
  }

  // Icons are constants (never message text), so setting them as markup is safe. The tick
  // glyphs stay in the text as well, for screen readers, copy and paste, and tests.
  const ICONS = {
    clock:
      '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><circle cx="8" cy="8" r="6.1" ' +
      'fill="none" stroke="currentColor" stroke-width="1.3"/><path d="M8 4.6V8l2.3 1.5" fill="none" ' +
      'stroke="currentColor" stroke-width="1.3" stroke-linecap="round"/></svg>',
    sent:
      '<svg viewBox="0 0 16 11" width="16" height="11" aria-hidden="true"><path d="M2 5.8l3.4 3.4L13.2 1.4" ' +
      'fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/></svg>',
    double:
      '<svg viewBox="0 0 18 11" width="18" height="11" aria-hidden="true"><path d="M1.2 5.8l3.4 3.4L12.4 1.4" ' +
      'fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>' +
      '<path d="M8.3 8.9l.3.3L16.4 1.4" fill="none" stroke="currentColor" stroke-width="1.6" ' +
      'stroke-linecap="round" stroke-linejoin="round"/></svg>',
    person:
      '<svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true"><path fill="currentColor" ' +
      'd="M12 12a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9Zm0 2c-4.4 0-8 2.4-8 5.3V21h16v-1.7c0-2.9-3.6-5.3-8-5.3Z"/></svg>',
    failed:
      '<svg viewBox="0 0 16 16" width="15" height="15" aria-hidden="true"><circle cx="8" cy="8" r="7" ' +
      'fill="currentColor"/><path d="M8 4v5" stroke="#fff" stroke-width="1.8" stroke-linecap="round"/>' +
      '<circle cx="8" cy="11.6" r="1.05" fill="#fff"/></svg>',
  };

  function renderTicks(node, message) {
    const status = message.status;
    node.className = "ticks";
    node.dataset.status = status;
    node.title = message.error || status;
    node.setAttribute("aria-label", status);
    let icon = ICONS.clock;
    let glyph = "";
    if (FAILED.has(status)) {
      node.classList.add("failed");
      icon = ICONS.failed;
      glyph = "!";
    } else if (TICKS[status]) {
      glyph = TICKS[status];
      icon = glyph.length > 1 ? ICONS.double : ICONS.sent;
      if (status === "read") node.classList.add("read");
    }
    node.innerHTML = icon;
    if (glyph) node.append(el("span", "visually-hidden", glyph));
  }

  // ---- users (the sidebar) ----

  function addUser(number, name, custom) {
    const known = state.users.get(number);
    if (!known) {
      state.users.set(number, { number, name: name || prettyNumber(number), custom: !!custom });
    } else if (name && known.name === prettyNumber(number)) {
      known.name = name; // a user first seen by number, who has a profile name after all
    }
  }

  // A reply shown in the open thread is read: the fake Twilio then reports it (blue ticks).
  const marked = new Set();
  document.addEventListener("visibilitychange", () => {
    for (const message of userMessages(state.current)) markRead(message);
  });
  function markRead(message) {
    if (message.direction !== "out" || message.status === "read" || marked.has(message.id)) return;
    if (message.user !== state.current || document.hidden) return;
    marked.add(message.id);
    fetch(`/_sandbox/twilio/messages/${encodeURIComponent(message.id)}/read`, { method: "POST" })
      .catch(() => marked.delete(message.id));
  }

  function userMessages(number) {
    return [...state.messages.values()].filter((m) => m.user === number);
  }

  function renderUsers() {
    const list = $("user-list");
    list.replaceChildren();
    for (const user of state.users.values()) {
      const item = el("li");
      const button = el("button", "user");
      button.type = "button";
      button.dataset.number = user.number;
      button.setAttribute("aria-current", String(user.number === state.current));
      const avatar = el("span", "avatar");
      if (user.name.startsWith("+")) avatar.innerHTML = ICONS.person; // a constant
      else avatar.textContent = user.name.charAt(0).toUpperCase();
      avatar.style.background = colourOf(user.number);
      const text = el("span", "user-text");
      const top = el("span", "user-row");
      top.append(el("span", "user-name", user.name));
      const messages = userMessages(user.number);
      const last = messages[messages.length - 1];
      if (last) top.append(el("span", "user-time", time(last.at)));
      const bottom = el("span", "user-row");
      const typing = isTyping(user.number);
      const preview = typing
        ? "typing…"
        : last
          ? (last.direction === "in" ? "You: " : "") + (last.body || mediaLabel(last))
          : prettyNumber(user.number);
      bottom.append(el("span", typing ? "user-preview typing" : "user-preview", preview));
      const unread = state.unread.get(user.number) || 0;
      if (unread > 0 && user.number !== state.current) bottom.append(el("span", "unread", unread));
      text.append(top, bottom);
      button.append(avatar, text);
      button.addEventListener("click", () => selectUser(user.number));
      item.append(button);
      list.append(item);
    }
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

  function bubble(message) {
    const mine = message.direction === "in";
    const row = el("div", `msg ${mine ? "mine" : "theirs"}`);
    row.dataset.id = message.id;
    row.dataset.direction = message.direction;
    const box = el("div", "bubble");
    const attachments = message.media || [];
    for (const media of attachments) box.append(attachment(media));
    if (message.body || !attachments.length) {
      const text = el("span", "text");
      if (/^\/\w+$/.test(message.body.trim())) text.classList.add("command");
      text.append(formatted(message.body));
      box.append(text);
    }
    for (const url of attachments.length ? [] : message.media_urls || []) {
      const link = el("a", "media", "Attachment: " + url);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      box.append(link);
    }
    // WhatsApp's trick: an invisible copy of the time at the end of the text keeps room for
    // the real one, which sits in the bottom right corner.
    const spacer = el("span", "meta-spacer", time(message.at));
    spacer.setAttribute("aria-hidden", "true");
    box.append(spacer);
    const meta = el("span", "meta");
    const stamp = el("time", "", time(message.at));
    stamp.dateTime = message.at;
    const ticks = el("span", "ticks");
    meta.append(stamp, ticks);
    box.append(meta);
    row.append(box);
    updateBubble(row, message);
    return row;
  }

  // A user's photo (a thumbnail), voice note or audio file (a player), or other file (a name).
  function attachment(media) {
    const kind = (media.content_type || "").split("/")[0];
    const source = media.preview_url;
    if (kind === "image" && source) {
      const link = el("a", "attachment photo");
      link.href = source;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      const image = el("img");
      image.src = source;
      image.alt = "Photo";
      image.loading = "lazy";
      link.append(image);
      return link;
    }
    if (kind === "audio" && source) {
      const player = el("audio", "attachment voice");
      player.controls = true;
      player.preload = "metadata";
      player.src = source;
      return player;
    }
    return el("span", "attachment file", `📄 ${media.content_type || "file"}`);
  }

  function mediaLabel(message) {
    const first = (message.media || [])[0];
    if (!first && (message.media_urls || []).length) return "📎 Attachment";
    if (!first) return "";
    const kind = (first.content_type || "").split("/")[0];
    return kind === "image" ? "📷 Photo" : kind === "audio" ? "🎤 Audio" : "📄 File";
  }

  function updateBubble(row, message) {
    row.dataset.status = message.status;
    renderTicks(row.querySelector(".ticks"), message);
    let error = row.nextElementSibling;
    const hasError = error && error.classList.contains("error-line");
    if (FAILED.has(message.status) && message.error) {
      if (!hasError) {
        error = el("div", "error-line");
        row.after(error);
      }
      error.textContent = message.error;
    } else if (hasError) {
      error.remove();
    }
  }

  function nearBottom() {
    const box = $("messages");
    return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  }

  function scrollDown() {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
  }

  function renderThread() {
    const thread = $("thread");
    thread.replaceChildren();
    let lastDay = null;
    let lastDirection = null;
    for (const message of userMessages(state.current)) {
      lastDirection = appendBubble(thread, message, lastDay, lastDirection);
      lastDay = dayLabel(message.at);
      markRead(message);
    }
    renderTyping();
    scrollDown();
  }

  function appendBubble(thread, message, lastDay, lastDirection) {
    const day = dayLabel(message.at);
    if (day !== lastDay) {
      thread.append(el("div", "day", day));
      lastDirection = null;
    }
    const row = bubble(message);
    if (message.direction !== lastDirection) row.classList.add("first");
    thread.append(row);
    if (FAILED.has(message.status)) updateBubble(row, message);
    return message.direction;
  }

  function isTyping(number) {
    const until = state.typingUntil.get(number);
    return !!until && until > new Date();
  }

  function renderTyping() {
    const typing = isTyping(state.current);
    $("typing").hidden = !typing;
    const subtitle = $("subtitle");
    subtitle.classList.toggle("typing", typing);
    subtitle.textContent = typing ? "typing…" : subtitleText();
    clearTimeout(state.typingTimer);
    const next = [...state.typingUntil.values()].filter((d) => d > new Date());
    if (next.length) {
      const soonest = Math.min(...next.map((d) => d.getTime()));
      state.typingTimer = setTimeout(() => {
        renderTyping();
        renderUsers();
      }, soonest - Date.now() + 50);
    }
  }

  function subtitleText() {
    const user = state.users.get(state.current);
    const business = state.config ? prettyNumber(state.config.business_number.replace(/^whatsapp:/, "")) : "";
    return user ? `business account ${business} · you are ${user.name}` : "online";
  }

  // ---- events from the sandbox ----

  function onMessage(message) {
    const isNew = !state.messages.has(message.id);
    state.messages.set(message.id, message);
    addUser(message.user, message.profile_name);
    if (message.direction === "out") state.typingUntil.delete(message.user);
    if (message.user === state.current) {
      const stick = nearBottom() || message.direction === "in";
      const existing = document.querySelector(`.msg[data-id="${CSS.escape(message.id)}"]`);
      if (existing) updateBubble(existing, message);
      else {
        const thread = $("thread");
        const rows = thread.querySelectorAll(".msg");
        const previous = rows.length ? state.messages.get(rows[rows.length - 1].dataset.id) : null;
        const lastDay = previous ? dayLabel(previous.at) : null;
        appendBubble(thread, message, lastDay, previous ? previous.direction : null);
      }
      renderTyping();
      if (stick) scrollDown();
      markRead(message);
    } else if (isNew && message.direction === "out") {
      state.unread.set(message.user, (state.unread.get(message.user) || 0) + 1);
    }
    renderUsers();
  }

  function onStatus(update) {
    const message = state.messages.get(update.id);
    if (!message) return;
    message.status = update.status;
    message.error = update.error;
    const row = document.querySelector(`.msg[data-id="${CSS.escape(update.id)}"]`);
    if (row) updateBubble(row, message);
  }

  function onTyping(event) {
    state.typingUntil.set(event.user, new Date(event.until));
    addUser(event.user);
    renderTyping();
    if (event.user === state.current && nearBottom()) scrollDown();
    renderUsers();
  }

  function onSnapshot(snapshot) {
    state.messages.clear();
    state.typingUntil.clear();
    for (const message of snapshot.messages) {
      state.messages.set(message.id, message);
      addUser(message.user, message.profile_name);
    }
    for (const typing of snapshot.typing) state.typingUntil.set(typing.user, new Date(typing.until));
    renderUsers();
    renderThread();
  }

  function connect() {
    const source = new EventSource(`${API}/events`);
    const parse = (handler) => (event) => handler(JSON.parse(event.data));
    source.addEventListener("snapshot", parse(onSnapshot));
    source.addEventListener("message", parse(onMessage));
    source.addEventListener("status", parse(onStatus));
    source.addEventListener("typing", parse(onTyping));
    source.addEventListener("open", () => {
      $("offline-banner").hidden = true;
      document.body.dataset.connected = "true";
    });
    source.addEventListener("error", () => {
      $("offline-banner").hidden = false;
      document.body.dataset.connected = "false";
    });
  }

  // ---- sending ----

  let toastTimer = null;
  function toast(text) {
    const node = $("toast");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (node.hidden = true), 6000);
  }

  // Files go to the sandbox's Twilio first (as WhatsApp's media does), all on one message;
  // the webhook then carries their URLs, as Twilio's does.
  async function upload(files) {
    const media = [];
    let messageSid = null;
    for (const file of files) {
      const query = messageSid ? `?message_sid=${encodeURIComponent(messageSid)}` : "";
      const answer = await fetch(UPLOAD + query, {
        method: "POST",
        headers: { "Content-Type": file.type || "application/octet-stream" },
        body: file,
      });
      if (!answer.ok) {
        const problem = await answer.json().catch(() => ({}));
        const detail = typeof problem.detail === "string" ? problem.detail : `HTTP ${answer.status}`;
        throw new Error(`${file.name || "the file"}: ${detail}`);
      }
      const stored = await answer.json();
      messageSid = stored.message_sid;
      media.push({ url: stored.url, content_type: stored.content_type, preview_url: stored.preview_url });
    }
    return { media, messageSid };
  }

  async function send(body, files = []) {
    if (!state.current || (!body.trim() && !files.length)) return;
    const user = state.users.get(state.current);
    const to = state.current;
    try {
      const { media, messageSid } = files.length ? await upload(files) : { media: [], messageSid: null };
      const payload = {
        user: to,
        body,
        profile_name: user && !user.name.startsWith("+") ? user.name : null,
      };
      if (media.length) Object.assign(payload, { media, message_sid: messageSid });
      const answer = await fetch(`${API}/messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
      if (!answer.ok) {
        const problem = await answer.json().catch(() => ({}));
        const detail = typeof problem.detail === "string" ? problem.detail : `HTTP ${answer.status}`;
        toast(`Not sent: ${detail}`);
      }
    } catch (error) {
      toast(
        error instanceof TypeError
          ? "Not sent: the sandbox does not answer. Is make run still running?"
          : `Not sent: ${error.message}`,
      );
    }
  }

  // ---- attachments: files picked with the paperclip wait above the text box ----

  function renderPending() {
    const strip = $("pending");
    for (const node of strip.querySelectorAll("img")) URL.revokeObjectURL(node.src);
    strip.replaceChildren();
    strip.hidden = !state.pending.length;
    state.pending.forEach((file, index) => {
      const item = el("div", "pending-item");
      if (file.type.startsWith("image/")) {
        const image = el("img");
        image.src = URL.createObjectURL(file);
        image.alt = file.name;
        item.append(image);
      } else {
        item.append(el("span", "pending-name", `${file.type.startsWith("audio/") ? "🎤" : "📄"} ${file.name}`));
      }
      const remove = el("button", "pending-remove", "×");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.addEventListener("click", () => {
        state.pending.splice(index, 1);
        renderPending();
      });
      item.append(remove);
      strip.append(item);
    });
    if (state.pending.length) strip.append(el("span", "pending-hint", "Add a caption, then send"));
  }

  // ---- voice notes: click the microphone to record, click again to stop and send ----

  function recordingType() {
    const types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"];
    return types.find((type) => MediaRecorder.isTypeSupported(type)) || "";
  }

  async function toggleRecording() {
    const button = $("record");
    if (state.recorder) {
      state.recorder.stop();
      return;
    }
    if (!navigator.mediaDevices || typeof MediaRecorder === "undefined") {
      toast("This browser cannot record audio here (it needs localhost or https).");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      toast("No microphone: the browser refused or found none.");
      return;
    }
    const mimeType = recordingType();
    const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : {});
    const chunks = [];
    const to = state.current;
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size) chunks.push(event.data);
    });
    recorder.addEventListener("stop", () => {
      for (const track of stream.getTracks()) track.stop();
      state.recorder = null;
      button.classList.remove("recording");
      button.setAttribute("aria-pressed", "false");
      button.title = "Record a voice message";
      const type = (recorder.mimeType || mimeType || "audio/webm").split(";")[0];
      const extension = type.split("/")[1] || "webm";
      const blob = new Blob(chunks, { type });
      if (!blob.size || to !== state.current) return;
      const input = $("text");
      const caption = input.value;
      input.value = "";
      send(caption, [new File([blob], `voice-note.${extension}`, { type })]);
    });
    recorder.start();
    state.recorder = recorder;
    button.classList.add("recording");
    button.setAttribute("aria-pressed", "true");
    button.title = "Stop and send the voice message";
  }

  // ---- start ----

  function describeModel(config) {
    const model = $("model");
    $("model-name").textContent = config.model_label;
    const short = { sandbox: "echo, not a real model", openai: "OpenAI", compatible: "compatible server" };
    const kinds = {
      sandbox: "the sandbox's local echo responder, not a real model",
      openai: "OpenAI",
      compatible: "OpenAI-compatible server",
    };
    $("model-kind").textContent = short[config.model_provider] || config.model_provider;
    model.classList.add(config.model_provider === "sandbox" ? "local" : "real");
    model.dataset.provider = config.model_provider;
    model.title = `Answers come from ${config.model_label} (${kinds[config.model_provider]})`;
  }

  async function start() {
    const answer = await fetch(`${API}/config`);
    state.config = await answer.json();
    describeModel(state.config);
    $("twilio-banner").hidden = !state.config.twilio_real;
    if (state.config.twilio_real) {
      $("notice").textContent =
        "What you send here is signed with your Twilio auth token and posted to ingress, " +
        "as Twilio would post it.";
      $("side-footer").textContent =
        "Every message is a Twilio-signed webhook to ingress; the sender delivers the replies " +
        "through the real Twilio.";
    }
    const saved = loadSaved();
    for (const preset of state.config.presets) addUser(preset.number, preset.name);
    for (const custom of saved.custom || []) addUser(custom.number, custom.name, true);
    state.current = state.users.has(saved.current) ? saved.current : state.config.presets[0].number;
    renderUsers();
    renderThread();
    connect();

    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("text");
      const body = input.value;
      const files = state.pending;
      input.value = "";
      state.pending = [];
      renderPending();
      send(body, files);
      input.focus();
    });
    // Media goes through the sandbox's Twilio: with real Twilio there is nowhere to keep it.
    $("attach").hidden = $("record").hidden = !!state.config.twilio_real;
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
    $("new-user").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("new-number");
      const number = normalise(input.value);
      const error = $("new-user-error");
      if (!number) {
        error.textContent = "Type a number in international format, e.g. +1 555 000 4242.";
        return;
      }
      error.textContent = "";
      input.value = "";
      addUser(number, null, true);
      selectUser(number);
    });
    $("text").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    start().catch(() => {
      $("offline-banner").hidden = false;
    });
  });
})();
