// The agent inbox: one WebSocket to /ws/support/agent/ carries every action and
// every live update. Messages are shown once, in seq order; after a reconnect the
// open conversation is watched again from the last seq shown.
(function () {
  const root = document.getElementById("inbox");
  if (!root) return;
  const T = JSON.parse(document.getElementById("inbox-strings").textContent);
  const replies = JSON.parse(document.getElementById("inbox-replies").textContent);
  const $ = (id) => document.getElementById(id);
  const list = $("inbox-list"), messages = $("chat-messages"), input = $("chat-input");
  const panel = $("chat-panel"), errorLine = $("chat-error"), replyList = $("chat-replies");
  let ws = null, current = null, lastSeq = 0, backoff = 500, typingAt = 0, typingTimer = null;
  let pendingReply = null, windowClosed = false;
  // past WeChat's window only internal notes go out (the panel offers a subscribe message)
  const sendable = () => { $("chat-send").disabled = input.disabled || (windowClosed && !$("chat-note").checked); };

  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  const send = (frame) => { if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame)); };
  const cid = () => "a-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 8);

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${scheme}://${location.host}${root.dataset.ws}`);
    ws.onopen = () => {
      backoff = 500;
      $("inbox-link").textContent = T.connected;
      if (current) send({ type: "watch", conversation: current, after: lastSeq });
    };
    ws.onclose = () => {
      $("inbox-link").textContent = T.disconnected;
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
    ws.onmessage = (event) => handle(JSON.parse(event.data));
  }
  // The heartbeat: the server answers a ping with whatever the watched conversation
  // stored that this socket was not sent (live delivery is at most once), then pong.
  setInterval(() => send({ type: "ping" }), 25000);

  function render(m) {
    const li = el("li", m.sender === "agent" ? "text-right" : m.sender === "system" ? "text-center text-xs" : "");
    li.dataset.seq = m.seq;
    const bubble = el("span", "inline-block rounded-default px-2 py-1 " + (m.sender === "agent" ? "bg-primary-100 dark:bg-primary-900" : m.sender === "member" ? "bg-base-100 dark:bg-base-800" : ""));
    let text = m.text;
    if (m.kind === "order") text = `🧾 ${m.payload.number} · ${m.payload.status_label}`;
    if (m.kind === "product") text = `🛍 ${m.payload.title}`;
    if (m.kind === "coupon") text = `🎟 ${m.payload.name}`;
    if (m.kind === "image") text = `🖼 ${m.payload.image}`;
    bubble.textContent = text;
    li.appendChild(bubble);
    li.appendChild(el("span", "block text-xs opacity-60", new Date(m.created_at).toLocaleTimeString()));
    messages.appendChild(li);
    messages.scrollTop = messages.scrollHeight;
  }

  function handle(f) {
    if (f.type === "message") {
      const m = f.message;
      if (m.conversation !== current || m.seq <= lastSeq) return;
      lastSeq = m.seq;
      render(m);
      if (m.sender === "member") { send({ type: "read", conversation: current, seq: m.seq }); $("chat-typing").textContent = ""; }
    } else if (f.type === "notice" || f.type === "state" || f.type === "agent") {
      refreshList();
      if (f.type === "state" && f.conversation === current) refreshPanel();
    } else if (f.type === "typing" && f.conversation === current && f.side === "member") {
      $("chat-typing").textContent = T.typing;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { $("chat-typing").textContent = ""; }, 3000);
    } else if (f.type === "note") {
      if (f.conversation === current) refreshPanel();
    } else if (f.type === "status") {
      $("inbox-load").textContent = f.load;
    } else if (f.type === "error") {
      errorLine.textContent = f.message + (f.fields ? " " + Object.values(f.fields).join(" ") : "");
    } else if (f.type === "done") {
      errorLine.textContent = "";
      refreshList(); refreshPanel();
    } else if (f.type === "ack") {
      errorLine.textContent = "";
    }
  }

  async function refreshList() {
    const r = await fetch(root.dataset.list, { credentials: "same-origin" });
    if (r.ok) { list.innerHTML = await r.text(); mark(); }
  }

  async function refreshPanel() {
    if (!current) return;
    const r = await fetch(`${root.dataset.panel}?conversation=${current}`, { credentials: "same-origin" });
    if (!r.ok) return;
    panel.innerHTML = await r.text();
    const p = $("panel");
    if (!p) return;
    const mine = p.dataset.mine === "1", open = p.dataset.state !== "closed";
    $("chat-claim").classList.toggle("hidden", mine || !open);
    $("chat-close").classList.toggle("hidden", !mine || !open);
    $("chat-transfer").classList.toggle("hidden", !mine || !open);
    input.disabled = !open;
    windowClosed = p.dataset.windowApplies === "1" && p.dataset.windowOpen !== "1";
    sendable();
    const w = $("chat-window");
    if (p.dataset.windowApplies === "1") {
      w.textContent = p.dataset.windowOpen === "1"
        ? T.window.replace("%(left)s", p.dataset.windowLeft).replace("%(until)s", new Date(p.dataset.windowUntil).toLocaleString())
        : T.window_closed;
    } else { w.textContent = ""; }
  }

  function mark() {
    list.querySelectorAll("[data-conversation]").forEach((a) => {
      a.classList.toggle("bg-base-100", Number(a.dataset.conversation) === current);
    });
  }

  function open(id) {
    if (current) send({ type: "unwatch", conversation: current });
    current = id; lastSeq = 0;
    messages.innerHTML = ""; errorLine.textContent = "";
    $("chat-title").textContent = `#${id}`;
    send({ type: "watch", conversation: id, after: 0 });
    refreshPanel(); mark();
  }

  list.addEventListener("click", (e) => {
    const a = e.target.closest("[data-conversation]");
    if (!a) return;
    e.preventDefault();
    open(Number(a.dataset.conversation));
  });

  $("inbox-status").addEventListener("change", (e) => send({ type: "status", state: e.target.value }));
  $("chat-claim").addEventListener("click", () => send({ type: "claim", conversation: current }));
  $("chat-close").addEventListener("click", () => { if (confirm(T.confirm_close)) send({ type: "close", conversation: current }); });
  $("chat-transfer").addEventListener("change", (e) => {
    const [kind, id] = e.target.value.split(":");
    e.target.value = "";
    if (!kind || !confirm(T.confirm_transfer)) return;
    send({ type: "transfer", conversation: current, [kind === "agent" ? "to_agent" : "to_queue"]: Number(id) });
  });

  function showReplies(query) {
    const q = query.slice(1).toLowerCase();
    const found = replies.filter((r) => r.shortcut.toLowerCase().startsWith(q) || r.title.toLowerCase().includes(q)).slice(0, 12);
    replyList.innerHTML = "";
    for (const r of found) {
      const li = el("li", "px-2 py-1 cursor-pointer hover:bg-base-100");
      li.dataset.reply = r.id;
      li.appendChild(el("strong", "", "/" + r.shortcut + " "));
      li.appendChild(el("span", "", r.title + " — " + r.text.slice(0, 40)));
      li.addEventListener("mousedown", (ev) => { ev.preventDefault(); pick(r); });
      replyList.appendChild(li);
    }
    replyList.classList.toggle("hidden", found.length === 0);
  }

  function pick(r) {
    pendingReply = r;
    input.value = r.text;
    replyList.classList.add("hidden");
    input.focus();
  }

  input.addEventListener("input", () => {
    const v = input.value;
    if (v.startsWith("/") && !v.includes(" ")) showReplies(v); else replyList.classList.add("hidden");
    if (pendingReply && v !== pendingReply.text) pendingReply = null;
    const now = Date.now();
    if (current && now - typingAt > 2000) { typingAt = now; send({ type: "typing", conversation: current }); }
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("chat-form").requestSubmit(); }
  });

  $("chat-note").addEventListener("change", sendable);
  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!current || !text) return;
    if (windowClosed && !$("chat-note").checked) { errorLine.textContent = T.window_closed; return; }
    if ($("chat-note").checked) {
      send({ type: "note", conversation: current, text });
    } else if (pendingReply) {
      send({ type: "send", conversation: current, kind: "quick_reply", payload: { quick_reply_id: pendingReply.id }, client_id: cid() });
    } else {
      send({ type: "send", conversation: current, text, client_id: cid() });
    }
    pendingReply = null;
    input.value = "";
  });

  // The console's real-time channel: SLA warnings (to the assignee), breaches (to the
  // team leads) and alerts, shown above the inbox, newest first, five at most.
  let consoleBackoff = 1000;
  function connectConsole() {
    if (!root.dataset.consoleWs) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const sock = new WebSocket(`${scheme}://${location.host}${root.dataset.consoleWs}`);
    sock.onopen = () => { consoleBackoff = 1000; };
    sock.onclose = () => { setTimeout(connectConsole, consoleBackoff); consoleBackoff = Math.min(consoleBackoff * 2, 30000); };
    sock.onmessage = (event) => {
      const f = JSON.parse(event.data);
      if ((f.type !== "support.sla" && f.type !== "alert") || !f.message) return;
      const notices = $("inbox-notices");
      const cls = f.level === "breach" || f.type === "alert" ? "text-red-600" : "text-amber-600";
      const li = el("li", cls, `${new Date().toLocaleTimeString()} ${f.message}`);
      li.dataset.kind = f.type === "alert" ? "alert" : `sla-${f.level}`;
      notices.prepend(li);
      while (notices.children.length > 5) notices.lastChild.remove();
    };
  }

  connect();
  connectConsole();
})();
