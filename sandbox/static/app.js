// The sandbox chat page. Untrusted text only ever reaches the page as text nodes: bot HTML is
// rebuilt as DOM nodes from the stored entities and never parsed as markup.
"use strict";

const API = "/sandbox/api";
const params = new URLSearchParams(location.search);
const state = {
  me: params.has("as") ? Number(params.get("as")) : null,
  chat: params.has("chat") ? Number(params.get("chat")) : null,
  start: params.get("start"),
  version: -1,
  users: [],
  chats: [],
};
const $ = (id) => document.getElementById(id);

async function api(path, body, method) {
  const init = { method: method || (body === undefined ? "GET" : "POST"), headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function link(url) {
  const a = el("a", { target: "_blank", rel: "noopener noreferrer" });
  if (/^https?:\/\//i.test(url)) a.href = url;  // no javascript: or other schemes
  else a.title = url;
  return a;
}

function reveal(event) { event.currentTarget.classList.add("revealed"); }

function entityNode(entity, text) {
  switch (entity.type) {
    case "bold": return el("b");
    case "italic": return el("i");
    case "underline": return el("u");
    case "strikethrough": return el("s");
    case "spoiler": return el("span", { class: "spoiler", onclick: reveal });
    case "code": return el("code");
    case "pre": return el("pre");
    case "blockquote": return el("blockquote");
    case "expandable_blockquote": return el("blockquote", { class: "expandable", onclick: reveal });
    case "text_link": return link(entity.url || "");
    case "url": return link(text.slice(entity.offset, entity.offset + entity.length));
    case "bot_command": {
      const command = text.slice(entity.offset, entity.offset + entity.length);
      return el("span", { class: "command", onclick: () => send(command) });
    }
    default: return el("span");
  }
}

// Entity offsets are UTF-16 code units, which is what JavaScript string indices count.
function renderText(text, entities) {
  const root = el("div", { class: "text" });
  const sorted = (entities || []).filter((e) => e.length > 0)
    .sort((a, b) => a.offset - b.offset || b.length - a.length);
  const stack = [{ node: root, end: text.length }];
  let position = 0;
  const emit = (to) => {
    if (to > position) {
      stack[stack.length - 1].node.append(text.slice(position, to));
      position = to;
    }
  };
  const closeUntil = (offset) => {
    while (stack.length > 1 && stack[stack.length - 1].end <= offset) {
      emit(stack[stack.length - 1].end);
      stack.pop();
    }
  };
  for (const entity of sorted) {
    closeUntil(entity.offset);
    emit(Math.min(entity.offset, text.length));
    const parent = stack[stack.length - 1];
    const node = entityNode(entity, text);
    parent.node.append(node);
    stack.push({ node, end: Math.min(entity.offset + entity.length, parent.end) });
  }
  closeUntil(text.length);
  emit(text.length);
  return root;
}

function userName(id) {
  const user = state.users.find((u) => u.user_id === id);
  return user ? user.first_name : String(id);
}

function clock(date) {
  return new Date(date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function renderKeyboard(message) {
  const keyboard = el("div", { class: "keyboard" });
  for (const row of message.buttons) {
    const line = el("div", { class: "row" });
    for (const button of row) {
      if (button.url) {
        const a = link(button.url);
        a.textContent = button.text;
        line.append(a);
      } else if (button.callback_data !== undefined) {
        line.append(el("button", { type: "button", onclick: () => press(message, button) }, button.text));
      } else {
        line.append(el("button", { type: "button", disabled: "" }, button.text));
      }
    }
    keyboard.append(line);
  }
  return keyboard;
}

function renderMessage(message, isGroup) {
  const kind = message.from_bot ? "bot" : "user";
  const bubble = el("div", { class: `msg ${kind}`, id: `m${message.message_id}` });
  if (isGroup && !message.from_bot) bubble.append(el("div", { class: "who" }, userName(message.user_id)));
  if (message.deleted) {
    bubble.classList.add("deleted");
    bubble.append(el("em", {}, "deleted message"));
    return bubble;
  }
  const photo = message.kind === "photo" && (message.extra.photo || []).slice(-1)[0];
  if (photo) bubble.append(photoNode(photo.file_id));
  else if (message.kind !== "text") bubble.append(el("div", { class: "media" }, `[${message.kind}]`));
  if (message.text) bubble.append(renderText(message.text, message.entities));
  const edited = message.edits.length ? " · edited" : "";
  bubble.append(el("div", { class: "meta" }, clock(message.date) + edited));
  if (message.buttons.length) bubble.append(renderKeyboard(message));
  return bubble;
}

// A photo the bot sent; clicking it "scans" it as a phone's camera would: a QR code with a
// bot's deep link opens that bot's chat as a new user, with the Start button of the link.
function photoNode(fileId) {
  return el("img", {
    class: "photo", src: `/sandbox/photo/${encodeURIComponent(fileId)}`, alt: "photo",
    title: "Click to scan a QR code in it", onclick: () => scan(fileId),
  });
}

async function scan(fileId) {
  try {
    const { texts } = await api(`/photos/${encodeURIComponent(fileId)}/scan`);
    const start = texts.map((text) => /^https:\/\/t\.me\/\w+\?start=([\w-]{1,64})$/.exec(text))
      .find(Boolean);
    if (!start) return toast(texts.length ? `The QR code reads: ${texts[0]}` : "No QR code found");
    const user = await api("/users", { first_name: `Scanner ${state.users.length + 1}` });
    state.start = start[1];
    state.version = -1;
    await refresh();
    openChat(user.user_id);
  } catch (err) {
    toast(err.message);
  }
}

function renderUsers() {
  const select = $("me");
  select.replaceChildren(...state.users.filter((u) => !u.deactivated).map((u) =>
    el("option", { value: String(u.user_id) }, `${u.first_name} (${u.user_id})`)));
  if (state.me === null && state.users.length) state.me = state.users[0].user_id;
  if (state.me !== null) select.value = String(state.me);
}

function renderChats() {
  $("chats").replaceChildren(...state.chats.map((chat) => {
    const label = chat.type === "private" ? "private chat" : chat.type;
    const item = el("button", { type: "button", class: "chat-item", onclick: () => openChat(chat.chat_id) },
      chat.name, el("small", {}, `${label} · ${chat.chat_id}`));
    if (chat.chat_id === state.chat) item.classList.add("open");
    return item;
  }));
}

async function renderChat() {
  const chat = state.chats.find((c) => c.chat_id === state.chat);
  $("app").classList.toggle("chat-open", Boolean(chat));
  $("title").textContent = chat ? chat.name : "Pick a chat";
  const me = state.users.find((u) => u.user_id === state.me);
  const block = $("block");
  block.hidden = !(chat && chat.type === "private" && me);
  if (me) block.textContent = me.blocked ? "Unblock bot" : "Block bot";
  $("start-banner").hidden = !(state.start && chat && chat.type === "private");
  if (!chat) {
    $("messages").replaceChildren();
    return;
  }
  const messages = await api(`/chats/${chat.chat_id}/messages`);
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren(...messages.map((m) => renderMessage(m, chat.type !== "private")));
  if (atBottom) box.scrollTop = box.scrollHeight;
}

async function refresh() {
  [state.users, state.chats] = await Promise.all([api("/users"), api("/chats")]);
  renderUsers();
  renderChats();
  await renderChat();
}

function openChat(chatId) {
  state.chat = chatId;
  const chat = state.chats.find((c) => c.chat_id === chatId);
  if (chat && chat.type === "private") state.me = chatId;  // only its user can write there
  renderUsers();
  renderChats();
  renderChat().catch((err) => toast(err.message));
}

async function send(text) {
  if (state.me === null || state.chat === null) return toast("Pick who you are and a chat first");
  try {
    await api("/send", { user_id: state.me, chat_id: state.chat, text });
  } catch (err) {
    toast(err.message);
  }
}

async function press(message, button) {
  try {
    await api("/press", {
      user_id: state.me, chat_id: message.chat_id, message_id: message.message_id, data: button.callback_data,
    });
  } catch (err) {
    toast(err.message);
  }
}

async function watch() {
  for (;;) {
    try {
      const change = await api(`/changes?since=${state.version}&timeout=25`);
      if (change.version !== state.version) {
        state.version = change.version;
        await refresh();
      }
    } catch (err) {
      toast(`sandbox unreachable: ${err.message}`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("text");
  if (!input.value.trim()) return;
  send(input.value);
  input.value = "";
});
$("me").addEventListener("change", (event) => {
  state.me = Number(event.target.value);
  const chat = state.chats.find((c) => c.chat_id === state.chat);
  if (!chat || chat.type === "private") openChat(state.me);
});
$("new-user").addEventListener("click", async () => {
  try {
    const language = (navigator.language || "en").slice(0, 2);
    const user = await api("/users", { first_name: `Guest ${state.users.length + 1}`, language_code: language });
    state.version = -1;
    await refresh();
    openChat(user.user_id);
  } catch (err) {
    toast(err.message);
  }
});
$("start").addEventListener("click", async () => {
  await send(`/start ${state.start}`);
  state.start = null;
  $("start-banner").hidden = true;
});
$("block").addEventListener("click", async () => {
  const me = state.users.find((u) => u.user_id === state.me);
  if (me) await api(`/users/${me.user_id}/${me.blocked ? "unblock" : "block"}`, {}).catch((err) => toast(err.message));
});
$("show-chats").addEventListener("click", () => $("app").classList.remove("chat-open"));

// A link such as /?as=1001&start=CODE works on a fresh sandbox: the user is created if needed.
async function init() {
  await refresh();
  if (state.me !== null && !state.users.some((u) => u.user_id === state.me)) {
    await api("/users", { user_id: state.me, first_name: `User ${state.me}` });
  }
  if (state.chat === null && state.me !== null) state.chat = state.me;
}

init().catch((err) => toast(err.message)).finally(watch);
