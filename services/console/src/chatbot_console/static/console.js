// The operators' console: look a user up by phone, see what is held about them and act on
// them, and go through the dead letters. It uses the console's API only, with the session's
// cookie and, on every change, the session's CSRF token (from /session). No framework, no
// build step. A module: it runs once the page is parsed, in strict mode.
//
// No phone number is shown but one the operator typed: the API names users by their key, and
// numbers inside what it returns (a dead letter's payload, a transcript) are hidden.

const CSRF_HEADER = "X-CSRF-Token";
const SUBJECT_KEY = /^chat\.(?:inbound|outbound)\.([0-9a-f]{32})$/; // a user's message subject
const PHONE = /(?:whatsapp:)?\+[1-9](?:[\s().-]*\d){6,14}/g;
const HIDDEN_NUMBER = "[number hidden]";
const NUMBER_FIELDS = /^(from_?|to|wa_?id|phone|number|address)$/i; // in a payload
const ACTIONS = {
  reset: ["Reset", "Start this user's conversation over?"],
  handoff: ["Hand to a person", "Hand this user to a person at the desk?"],
  handback: ["Hand back", "Hand this user back from the person to the bot?"],
  erase: ["Erase", "Erase everything held about this user, everywhere? This cannot be undone."],
};
const OUTCOMES = {
  replayed: (where) => `Replayed: published again as ${where}.`,
  already_replayed: () => "Already replayed: this record was replayed before; nothing was sent.",
  cut: () => "Not replayed: the record keeps only the start of the original message (cut).",
};
const SOURCES = { openai: "from the OpenAI conversation", history: "from the chat history" };

const state = {
  csrf: "",
  typed: new Map(), // user key -> the number the operator typed to find them
  userKey: null, // the user shown
  letterId: null, // the dead letter shown
};

const $ = (id) => document.getElementById(id);

// An element. `props` is its class, or properties to set (`dataset` too); the children are
// nodes or text (null, undefined and false are left out). Text is never parsed as HTML.
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  const { dataset, ...properties } = typeof props === "string" ? { className: props } : props ?? {};
  Object.assign(node, properties);
  Object.assign(node.dataset, dataset);
  node.append(...children.filter((child) => child != null && child !== false));
  return node;
}

// A message in one of the page's problem or status lines; none hides it.
function say(id, text, problem = false) {
  const node = $(id);
  node.textContent = text || "";
  node.hidden = !text;
  node.classList.toggle("problem", problem);
}

// ---- phone numbers ----

const digits = (text) => text.replace(/\D/g, "");

// The number as WhatsApp addresses it (+ and digits), from what a person types; null if it is
// not one. A country code is needed: a number without + or 00 would be a guess.
function normalise(raw) {
  let number = raw.trim().replace(/^whatsapp:/i, "").replace(/[\s\-().]/g, "");
  if (number.startsWith("00")) number = "+" + number.slice(2);
  return /^\+[1-9][0-9]{6,14}$/.test(number) ? number : null;
}

// Whether `text` is a number the operator typed (however it is written).
const wasTyped = (text) =>
  [...state.typed.values()].some((typed) => digits(typed) === digits(text));

// `text` with every phone number (+ and digits) hidden except those the operator typed.
const masked = (text) => text.replace(PHONE, (found) => (wasTyped(found) ? found : HIDDEN_NUMBER));

// A JSON value with its numbers hidden: in any text, and in fields that hold one without a +
// (Twilio's WaId, say).
function maskedJson(value, key = "") {
  if (typeof value === "string") {
    const number = NUMBER_FIELDS.test(key) && digits(value).length >= 7 && !wasTyped(value);
    return number ? HIDDEN_NUMBER : masked(value);
  }
  if (Array.isArray(value)) return value.map((item) => maskedJson(item));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskedJson(v, k)]));
  }
  return value;
}

// ---- formatting ----

function when(iso) {
  if (!iso) return "never";
  const shown = new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "medium" });
  return el("time", { dateTime: iso, title: iso }, shown);
}

const count = (n) => n.toLocaleString();

const shownJson = (value) => JSON.stringify(maskedJson(value), null, 2);

// A payload as kept: JSON shown indented, anything else (or JSON cut short) as it is.
function shownPayload(text) {
  try {
    return shownJson(JSON.parse(text));
  } catch {
    return masked(text);
  }
}

const letterLink = (id) => el("a", { href: `#dlq/${id}`, dataset: { letter: id } }, `#${id}`);
const userLink = (key) => el("a", { href: `#user/${key}`, dataset: { user: key } }, key);

// ---- the API ----

// What the API answered, as {status, body}; an Error saying plainly why when it refused.
async function api(path, method = "GET") {
  const headers = method === "GET" ? {} : { [CSRF_HEADER]: state.csrf };
  let answer;
  try {
    answer = await fetch(path, { method, headers });
  } catch {
    throw new Error("The console does not answer: is it running?");
  }
  const body = await answer.json().catch(() => null);
  if (answer.status === 401) {
    $("banner").replaceChildren(
      "Your session has ended: ",
      el("a", { href: "/login" }, "log in again"),
      ".",
    );
    $("banner").hidden = false;
  }
  if (!answer.ok) throw new Error(problem(answer, body));
  return { status: answer.status, body };
}

// Why the API refused: its `detail` (text, or FastAPI's list of invalid fields), with the status.
function problem(answer, body) {
  const detail = body?.detail;
  const status = `HTTP ${answer.status}`;
  if (typeof detail === "string") return `${detail} (${status})`;
  if (Array.isArray(detail)) {
    const fields = detail.map(({ loc = [], msg }) => `${loc.slice(1).join(".")}: ${msg}`);
    return `${fields.join("; ")} (${status})`;
  }
  return `${status} ${answer.statusText}`.trim();
}

// ---- looking a user up ----

async function lookUp(event) {
  event.preventDefault();
  $("found").hidden = true;
  const number = normalise($("phone").value);
  if (!number) {
    say("lookup-problem", "Give the number with its country code, e.g. +1 555 000 1111.", true);
    return;
  }
  say("lookup-problem", "");
  let users;
  try {
    ({ users } = (await api(`/api/users?phone=${encodeURIComponent(`whatsapp:${number}`)}`)).body);
  } catch (error) {
    say("lookup-problem", error.message, true);
    return;
  }
  for (const { user_key: key } of users) state.typed.set(key, number);
  const known = users.filter((user) => user.known);
  if (!users.length) {
    say("lookup-problem", "The console knows no business number (CONSOLE_BUSINESS_NUMBERS).");
  } else if (!known.length) {
    say("lookup-problem", `Nobody has written from ${number}.`);
  }
  // One line per business number the user may have written to (their numbers stay hidden).
  if (users.length > 1) {
    $("found").replaceChildren(
      ...users.map(({ user_key: key, known: isKnown }, index) =>
        el(
          "li",
          null,
          `With business number ${index + 1}: `,
          isKnown ? userLink(key) : el("span", "muted", "never wrote"),
        ),
      ),
    );
    $("found").hidden = false;
  }
  if (known.length === 1) openUser(known[0].user_key);
}

// ---- a user ----

async function openUser(key) {
  state.userKey = key;
  history.replaceState(null, "", `#user/${key}`);
  $("user").hidden = false;
  $("user-title").textContent = state.typed.has(key) ? `User ${state.typed.get(key)}` : "User";
  $("user-key").textContent = key;
  $("export").href = `/api/users/${key}/export`;
  $("export").download = `chatbot-user-${key}.json`;
  say("user-status", "");
  $("erased").hidden = true;
  await Promise.all([showUser(key), showTranscript(key)]);
}

async function showUser(key) {
  let view;
  try {
    view = (await api(`/api/users/${key}`)).body;
  } catch (error) {
    if (state.userKey !== key) return;
    say("user-problem", error.message, true);
    $("facts").replaceChildren();
    $("handback").hidden = true;
    $("handoff").hidden = true;
    return;
  }
  if (state.userKey !== key) return; // another user was opened meanwhile
  say("user-problem", "");
  const { handoff } = view;
  const mode = handoff
    ? [
        el("strong", null, "handoff"),
        ` (${handoff.reason}) since `,
        when(handoff.since),
        handoff.waiting_since && [", waiting since ", when(handoff.waiting_since)],
        `; desk conversation ${handoff.desk_conversation}`,
      ].flat()
    : [el("strong", null, "bot")];
  const letters = view.dead_letters.length
    ? view.dead_letters.flatMap((id, index) => [index ? ", " : null, letterLink(id)])
    : ["none"];
  const facts = [
    ["mode", "Mode", ...mode],
    ["opted-out", "Messages the business starts", view.opted_out ? "opted out" : "allowed"],
    ["conversation", "Conversation", view.conversation_id ?? "none"],
    ["last-seen", "Last seen", when(view.last_seen)],
    ["messages", "Messages", count(view.messages)],
    ["turns", "Turns", count(view.turns)],
    ["tokens", "Tokens", count(view.tokens)],
    ["tokens-today", "Tokens today", count(view.tokens_today)],
    ["rate", "Messages this rate window", count(view.rate_window_messages)],
    ["unanswered", "Unanswered", count(view.unanswered)],
    ["dead-letters", "Dead letters", ...letters],
  ];
  $("facts").replaceChildren(
    ...facts.map(([name, label, ...value]) =>
      el("div", { dataset: { fact: name } }, el("dt", null, label), el("dd", null, ...value)),
    ),
  );
  $("handback").hidden = view.mode !== "handoff";
  $("handoff").hidden = view.mode === "handoff";
}

async function showTranscript(key) {
  let chat;
  try {
    chat = (await api(`/api/users/${key}/transcript`)).body;
  } catch (error) {
    if (state.userKey !== key) return;
    $("transcript-source").textContent = "";
    $("transcript").replaceChildren(el("li", "muted", `No transcript: ${error.message}`));
    return;
  }
  if (state.userKey !== key) return;
  $("transcript-source").textContent = SOURCES[chat.source] ?? "";
  const lines = chat.lines.map(({ role, text }) =>
    el(
      "li",
      { className: `line ${role}`, dataset: { role } },
      el("span", "role", role),
      el("span", "text", masked(text)),
    ),
  );
  $("transcript").replaceChildren(
    ...(lines.length ? lines : [el("li", "muted", "Nothing kept for this user.")]),
  );
}

// Reset or hand back: asked in the user's own order, so the API answers 202 (queued).
async function ask(action) {
  const key = state.userKey;
  const [label, question] = ACTIONS[action];
  if (!key || !confirm(question)) return;
  const button = $(action);
  button.disabled = true;
  say("user-status", `${label}…`);
  try {
    const { status, body } = await api(`/api/users/${key}/${action}`, "POST");
    if (body.stores) {
      showErased(body);
      return;
    }
    const done = status === 202 ? "queued: it follows the user's earlier messages" : "done";
    say("user-status", `${label} ${done} (request ${body.request}).`);
  } catch (error) {
    say("user-status", `${label} failed: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

function showErased(erased) {
  if (!erased.done) {
    say("user-status", "Erase asked: the conversation service has not reported yet; erase again to see its report.");
    return;
  }
  say("user-status", "Erased.");
  $("erased").replaceChildren(
    ...Object.entries(erased.stores).map(([store, outcome]) =>
      el("li", { dataset: { store } }, el("code", null, store), ` ${outcome}`),
    ),
  );
  $("erased").hidden = false;
}

// ---- dead letters ----

async function showLetters(event) {
  event?.preventDefault();
  const filters = new URLSearchParams();
  for (const name of ["service", "reason"]) {
    const value = $(`dlq-${name}`).value.trim();
    if (value) filters.set(name, value);
  }
  let found;
  try {
    found = (await api(`/api/dlq?${filters}`)).body;
  } catch (error) {
    say("dlq-problem", error.message, true);
    return;
  }
  say("dlq-problem", "");
  const letters = [...found.dead_letters].reverse(); // newest first
  $("letters").replaceChildren(
    ...letters.map(({ id, record }) =>
      el(
        "tr",
        { dataset: { letter: id }, className: id === state.letterId ? "current" : "" },
        el("td", null, letterLink(id)),
        el("td", null, when(record.failed_at)),
        el("td", null, record.service),
        el("td", null, record.reason),
        el("td", null, record.error_code ?? ""),
        el("td", "number", String(record.attempts)),
      ),
    ),
  );
  const known = new Set([...$("reasons").options].map((option) => option.value));
  for (const { record } of letters) {
    if (!known.has(record.reason)) $("reasons").append(el("option", { value: record.reason }));
    known.add(record.reason);
  }
  const { unreadable: bad } = found;
  const unreadable = bad.length ? ` Unreadable: ${bad.map((id) => `#${id}`).join(", ")}.` : "";
  const shown = letters.length ? `${letters.length} shown, newest first.` : "None.";
  $("letters-note").textContent = shown + unreadable;
}

async function openLetter(id) {
  state.letterId = id;
  history.replaceState(null, "", `#dlq/${id}`);
  for (const row of $("letters").rows) {
    row.classList.toggle("current", Number(row.dataset.letter) === id);
  }
  $("letter").hidden = false;
  $("letter-title").textContent = `Dead letter #${id}`;
  say("replay-status", "");
  $("replay-status").removeAttribute("data-outcome");
  let record;
  try {
    ({ record } = (await api(`/api/dlq/${id}`)).body);
  } catch (error) {
    if (state.letterId !== id) return;
    say("letter-problem", error.message, true);
    for (const part of ["record", "payload"]) $(`letter-${part}`).textContent = "";
    $("letter-user").hidden = true;
    $("replay").disabled = true;
    return;
  }
  if (state.letterId !== id) return;
  say("letter-problem", "");
  $("replay").disabled = false;
  const { original_payload: payload, ...rest } = record;
  $("letter-record").textContent = shownJson(rest);
  const cut = record.original_size == null ? "" : `\n… (cut: ${record.original_size} bytes)`;
  $("letter-payload").textContent = shownPayload(payload) + cut;
  const key = SUBJECT_KEY.exec(record.original_subject)?.[1];
  $("letter-user").hidden = !key;
  if (key) $("letter-user").replaceChildren("User ", userLink(key));
  $("letter").scrollIntoView({ block: "nearest" });
}

async function replay() {
  const id = state.letterId;
  $("replay").disabled = true;
  $("replay-status").removeAttribute("data-outcome");
  say("replay-status", "Replaying…");
  try {
    const { outcome, where } = (await api(`/api/dlq/${id}/replay`, "POST")).body;
    if (state.letterId !== id) return;
    say("replay-status", (OUTCOMES[outcome] ?? (() => outcome))(where));
    $("replay-status").dataset.outcome = outcome;
  } catch (error) {
    if (state.letterId === id) say("replay-status", `Replay failed: ${error.message}`, true);
  } finally {
    $("replay").disabled = false;
  }
}

function closeLetter(event) {
  event.preventDefault();
  state.letterId = null;
  $("letter").hidden = true;
  for (const row of $("letters").rows) row.classList.remove("current");
  history.replaceState(null, "", state.userKey ? `#user/${state.userKey}` : location.pathname);
}

// Links to a user or a dead letter open it here (their #addresses work on a reload too).
function follow(event) {
  const target = event.target.closest("[data-user], [data-letter]");
  if (!target || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  if (target.dataset.user) openUser(target.dataset.user);
  else openLetter(Number(target.dataset.letter));
}

function openFromAddress() {
  const [, kind, what] = /^#(user|dlq)\/(.+)$/.exec(location.hash) ?? [];
  if (kind === "user") openUser(what);
  if (kind === "dlq") openLetter(Number(what));
}

function wait(seconds) {
  if (seconds == null) return "nobody waits";
  return seconds < 120 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

async function showOverview() {
  let seen;
  try {
    seen = (await api("/api/overview")).body;
  } catch (error) {
    say("overview-problem", error.message, true);
    return;
  }
  say("overview-problem", "");
  const letters = Object.entries(seen.dead_letters_by_reason);
  const desk = seen.handoff;
  const facts = [
    ["inbound", "Messages in, last hour", count(seen.inbound_last_hour)],
    ["outbound", "Messages out, last hour", count(seen.outbound_last_hour)],
    ["dead-letters", "Dead letters",
      letters.length ? letters.map(([reason, n]) => `${reason} ${count(n)}`).join(", ") : "none"],
    ["handoff", "With a person",
      desk ? `${count(desk.users)} (${count(desk.waiting)} waiting; longest ${wait(desk.oldest_wait_seconds)})`
        : "no desk"],
    ...seen.models.map((m) => [`model-${m.model}`, `Model ${m.model}`,
      !m.known ? "unknown to the API" : m.shutdown_date ? `shuts down ${m.shutdown_date}` : "no shutdown date"]),
  ];
  $("overview").replaceChildren(
    ...facts.map(([name, label, value]) =>
      el("div", { dataset: { fact: name } }, el("dt", null, label), el("dd", null, value)),
    ),
  );
}

async function start() {
  $("lookup").addEventListener("submit", lookUp);
  $("overview-refresh").addEventListener("click", showOverview);
  $("user-refresh").addEventListener("click", () => state.userKey && openUser(state.userKey));
  $("reset").addEventListener("click", () => ask("reset"));
  $("handoff").addEventListener("click", () => ask("handoff"));
  $("handback").addEventListener("click", () => ask("handback"));
  $("erase").addEventListener("click", () => ask("erase"));
  $("dlq-filters").addEventListener("submit", showLetters);
  $("replay").addEventListener("click", replay);
  $("letter-close").addEventListener("click", closeLetter);
  document.addEventListener("click", follow);

  let session;
  try {
    session = await (await fetch("/session")).json();
  } catch {
    say("banner", "The console does not answer: is it running?", true);
    return;
  }
  if (!session.operator) {
    location.replace("/login");
    return;
  }
  state.csrf = session.csrf;
  $("operator").textContent = session.operator;
  $("logout-csrf").value = session.csrf;
  showOverview();
  showLetters();
  openFromAddress();
}

start();
