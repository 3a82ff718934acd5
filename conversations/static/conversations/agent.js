/* ShopDesk agent console (/agent/): the live queue of handoff tickets, one conversation at a time,
 * replies and suggested replies, all over the /ws/agent/ websocket. No build step, no third-party code;
 * the page loads common.js (the helpers shared with the chat widget) first.
 *
 * Everything a shopper, the bot, an agent or the knowledge base wrote is rendered with textContent:
 * this page runs with a staff session, so no text from a shopper is ever parsed as HTML here.
 *
 * One file for one page (about 950 lines: queue, transcript, details, suggestions, the socket's frames);
 * the parts share the console's state, and the page has no build step to stitch modules together.
 */
(function (C) {
  "use strict";

  var el = C.el;
  var button = C.button;
  var fill = C.fill;

  var CONFIG = C.readJsonScript("shopdesk-agent-config", {});
  var MAX_CHARS = CONFIG.max_chars || 2000;
  var BASE_TITLE = document.title;
  var PING_MS = 25000;
  // A bot answer that stopped streaming without being recorded is not shown as "typing" forever.
  var TYPING_TTL_MS = 60000;

  var T = {
    connected: "已连接",
    connecting: "连接中…",
    ticket: { open: "待接入", claimed: "处理中", resolved: "已处理" },
    conversation: { bot: "机器人接待", waiting: "等待人工", human: "人工接待中", closed: "对话已结束" },
    reasons: {
      shopper_asked: "顾客要求人工",
      bot_unsure: "机器人无法回答",
      complaint: "顾客投诉",
      guardrail: "触发安全规则"
    },
    roles: { customer: "顾客", bot: "机器人", agent: "客服", system: "系统" },
    sources: { faq: "FAQ", llm: "模型", template: "模板", guardrail: "已拦截", handoff: "转人工" },
    kinds: { faq: "FAQ", product: "商品", promotion: "活动", template: "模板", llm: "模型", draft: "模型草稿" },
    me: "我",
    claimedBy: "处理人：",
    unclaimed: "等待认领",
    claiming: "认领中…",
    noContact: "未留下",
    noMatched: "没有匹配到知识库条目",
    noPreview: "（暂无顾客消息）",
    partial: "（回答未完成）",
    pending: "发送中…",
    failed: "未发送",
    typing: "正在输入…",
    loading: "正在获取建议…",
    noSuggestions: "暂无建议",
    drafting: "正在生成草稿…",
    draftBusy: "模型忙，暂无草稿",
    draftFailed: "草稿生成失败",
    draftEmpty: "暂无草稿",
    tooLong: "回复太长了：最多 {max} 字，当前 {n} 字。",
    offline: "连接已断开，恢复后会自动发送。",
    confirmClose: "确定结束与这位顾客的对话吗？顾客会收到评价邀请。",
    resolved: "该工单已处理完毕。",
    claimedByOther: "该工单由 {agent} 处理，您只能查看；对方离线后可以接管。",
    takeOver: "接管",
    needClaim: "认领后即可回复顾客。",
    closedConversation: "对话已结束。",
    justNow: "刚刚",
    minutes: "{n} 分钟前",
    hours: "{n} 小时前",
    days: "{n} 天前",
    visitor: "访客 #{id}"
  };
  // The texts in the page's language, from the server (conversations/console_texts.py); the table above
  // is what shows when a key is missing there.
  Object.keys(CONFIG.strings || {}).forEach(function (key) { T[key] = CONFIG.strings[key]; });

  var state = {
    me: CONFIG.username || "",
    tickets: {}, // ticket id -> Ticket (its transcript in .messages, oldest first)
    byConversation: {}, // conversation id -> ticket id
    early: {}, // conversation id -> messages that arrived before their ticket
    selected: null, // ticket id
    fresh: {}, // ticket id -> true: new or new customer message, not looked at yet
    pending: {}, // client id -> {conversation, text, messageId, failed}
    typing: {}, // conversation id -> {job, text, at}
    suggestions: {}, // conversation id -> {after, items, draft, drafting, done, error}
    drafts: {}, // conversation id -> reply typed but not sent
    busy: {}, // "claim:<ticket>", "release:<conversation>", "close:<conversation>" -> true until answered
    hellos: 0,
    hidden: {}, // store slug -> {open, claimed}: tickets the database has that the hello did not carry
    oldestLoaded: null // created_at (ms) of the oldest ticket the hello carried
  };
  var STALE_MS = (CONFIG.stale_hours || 24) * 3600 * 1000;

  var dom = {
    connection: byId("agent-connection"),
    queue: byId("agent-queue"),
    queueEmpty: byId("agent-queue-empty"),
    openCount: byId("agent-open-count"),
    claimedCount: byId("agent-claimed-count"),
    storeFilter: byId("agent-store-filter"),
    queueMore: byId("agent-queue-more"),
    closeStale: byId("agent-close-stale"),
    placeholder: byId("agent-placeholder"),
    detail: byId("agent-detail"),
    title: byId("agent-conv-title"),
    ticketStatus: byId("agent-ticket-status"),
    convStatus: byId("agent-conv-status"),
    convAgent: byId("agent-conv-agent"),
    claim: byId("agent-claim"),
    release: byId("agent-release"),
    close: byId("agent-close"),
    notice: byId("agent-notice"),
    transcript: byId("agent-transcript"),
    reply: byId("agent-reply"),
    input: byId("agent-reply-input"),
    counter: byId("agent-reply-counter"),
    send: byId("agent-send"),
    readonly: byId("agent-readonly"),
    info: byId("agent-info"),
    reason: byId("agent-reason"),
    contact: byId("agent-contact"),
    visitor: byId("agent-visitor"),
    created: byId("agent-created"),
    matched: byId("agent-matched"),
    suggestPanel: byId("agent-suggest-panel"),
    suggestions: byId("agent-suggestions"),
    refresh: byId("agent-suggest-refresh")
  };

  // The nodes of the conversation on screen, so live frames update it in place.
  var view = { ticket: null, byId: {}, byClient: {}, typing: null };

  // --- small helpers ------------------------------------------------------------------------------

  function byId(id) {
    return document.getElementById(id);
  }

  function clock(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function age(iso) {
    var ms = Date.now() - Date.parse(iso);
    if (!(ms >= 0)) return T.justNow;
    var minutes = Math.floor(ms / 60000);
    if (minutes < 1) return T.justNow;
    if (minutes < 60) return fill(T.minutes, { n: minutes });
    if (minutes < 24 * 60) return fill(T.hours, { n: Math.floor(minutes / 60) });
    return fill(T.days, { n: Math.floor(minutes / 1440) });
  }

  /* How long a waiting ticket has waited ("已等待 5 分钟"); when a claimed one came in. */
  function ageOf(t) {
    if (t.status !== "open") return age(t.created_at);
    var minutes = Math.floor((Date.now() - Date.parse(t.created_at)) / 60000);
    if (!(minutes >= 1)) return T.justNow;
    var time = minutes < 60 ? fill(T.durMinutes, { n: minutes })
      : minutes < 24 * 60 ? fill(T.durHours, { n: Math.floor(minutes / 60) })
      : fill(T.durDays, { n: Math.floor(minutes / 1440) });
    return fill(T.waited, { time: time });
  }

  function tag(kind, label) {
    var node = el("span", "ad-tag ad-tag-" + kind, label);
    node.setAttribute("data-kind", kind);
    return node;
  }

  function reasonLabel(ticket) {
    // The console speaks Chinese whatever language the server's labels are in.
    return T.reasons[ticket.reason] || ticket.reason_label || ticket.reason || "";
  }

  function visitorName(ticket) {
    var v = ticket.visitor || {};
    return v.display_name || v.customer_id || fill(T.visitor, { id: v.id || ticket.conversation });
  }

  function agentName(username) {
    return username === state.me ? T.me : username;
  }

  function isMine(ticket) {
    return !!ticket && ticket.status === "claimed" && ticket.agent === state.me;
  }

  function canReply(ticket) {
    return isMine(ticket) && ticket.conversation_status !== "closed";
  }

  function lastCustomerMessage(ticket) {
    for (var i = ticket.messages.length - 1; i >= 0; i -= 1) {
      if (ticket.messages[i].role === "customer") return ticket.messages[i];
    }
    return null;
  }

  function ticketOf(conversation) {
    var id = state.byConversation[conversation];
    return id !== undefined ? state.tickets[id] || null : null;
  }

  function selectedTicket() {
    return state.selected !== null ? state.tickets[state.selected] || null : null;
  }

  function isSelected(conversation) {
    var t = selectedTicket();
    return !!t && t.conversation === conversation;
  }

  /* Adds what is new to the ticket's transcript (by message id) and returns only that. */
  function mergeMessages(ticket, messages) {
    var known = {};
    ticket.messages.forEach(function (m) { known[m.id] = true; });
    var added = [];
    (messages || []).forEach(function (m) {
      if (!m || known[m.id]) return;
      known[m.id] = true;
      ticket.messages.push(m);
      added.push(m);
    });
    if (added.length) ticket.messages.sort(function (a, b) { return a.id - b.id; });
    return added;
  }

  /* Keeps the transcript already known (live messages may be newer than the frame); returns what is new. */
  function storeTicket(ticket, previous) {
    var messages = ticket.messages || [];
    ticket.messages = previous ? previous.messages : [];
    var added = mergeMessages(ticket, messages);
    var early = state.early[ticket.conversation];
    if (early) {
      added = added.concat(mergeMessages(ticket, early));
      delete state.early[ticket.conversation];
    }
    state.tickets[ticket.id] = ticket;
    state.byConversation[ticket.conversation] = ticket.id;
    return added;
  }

  // --- the connection ------------------------------------------------------------------------------

  var socket = new C.Socket({
    url: wsUrl,
    pingMs: PING_MS,
    onFrame: function (frame) {
      if (Object.prototype.hasOwnProperty.call(handlers, frame.type)) handlers[frame.type](frame);
    },
    onClose: function () {
      state.busy = {};
      setConnected(false);
      renderDetail();
    }
  });

  function wsUrl() {
    var path = CONFIG.ws_path || "/ws/agent/";
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  function setConnected(connected) {
    dom.connection.textContent = connected ? T.connected : T.connecting;
    dom.connection.setAttribute("data-state", connected ? "connected" : "connecting");
    document.body.classList.toggle("ad-offline", !connected);
  }

  // --- alerts: a short tone, and a desktop notification while the console is not in front ---------------

  /* The browser's permission is asked once, on the agent's first click (browsers want a gesture). */
  function askNotificationPermission() {
    if (!("Notification" in window) || Notification.permission !== "default") return;
    try {
      if (window.localStorage.getItem("shopdesk:notifications-asked")) return;
      window.localStorage.setItem("shopdesk:notifications-asked", "1");
    } catch (e) { /* private mode: ask anyway */ }
    Notification.requestPermission();
  }

  function tone() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      var audio = tone.context || (tone.context = new Context());
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.value = 0.08;
      oscillator.connect(gain);
      gain.connect(audio.destination);
      oscillator.start();
      oscillator.stop(audio.currentTime + 0.2);
    } catch (e) { /* no sound device: the title and the queue still show it */ }
  }

  function alertAgent(ticket, text) {
    tone();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (!document.hidden && document.hasFocus()) return;
    var note = new Notification(fill(T.notifyTitle, { store: ticket.store_name || ticket.store }), {
      body: text || "",
      tag: "shopdesk-ticket-" + ticket.id
    });
    note.onclick = function () {
      window.focus();
      select(ticket.id);
      note.close();
    };
  }

  document.addEventListener("click", askNotificationPermission, { once: true });

  // --- frames from the server -------------------------------------------------------------------------

  var handlers = {};

  /* The whole state, on every (re)connect: what happened while away is in it. */
  handlers.hello = function (f) {
    socket.greeted();
    state.hellos += 1;
    if (f.agent && f.agent.username) state.me = f.agent.username;

    var before = state.tickets;
    state.tickets = {};
    state.byConversation = {};
    state.early = {};
    state.typing = {};
    state.suggestions = {};
    state.busy = {};
    (f.tickets || []).forEach(function (t) {
      storeTicket(t, null);
      // After a reconnect, what appeared meanwhile is new to the agent; the first load is not.
      if (state.hellos > 1 && !before[t.id] && t.status === "open") state.fresh[t.id] = true;
    });
    Object.keys(state.fresh).forEach(function (id) {
      if (!state.tickets[id]) delete state.fresh[id];
    });
    if (state.selected !== null && !state.tickets[state.selected]) state.selected = null;
    rememberHidden(f.counts || {});

    settlePending();
    setConnected(true);
    renderQueue();
    showTicket();
  };

  handlers.ticket = function (f) {
    var t = f.ticket;
    if (!t || t.id === undefined) return;
    var previous = state.tickets[t.id];
    if (!previous) countHiddenGone(t);
    var added = storeTicket(t, previous);
    if (t.status !== "open") delete state.busy["claim:" + t.id];
    if (!previous && t.status === "open" && state.selected !== t.id) state.fresh[t.id] = true;
    if (!previous && t.status === "open" && shownStore(t.store)) alertAgent(t, reasonLabel(t));
    if (t.status === "resolved") {
      delete state.fresh[t.id];
      // A resolved ticket leaves the queue; the one on screen stays readable until another is chosen.
      if (state.selected !== t.id) forgetTicket(t);
    }
    if (previous) showAdded(t, added);
    renderQueue();
    if (state.selected === t.id) {
      renderDetail();
      maybeSuggest(false);
    }
  };

  handlers.message = function (f) {
    var m = f.message;
    if (!m) return;
    var ticket = ticketOf(f.conversation);
    if (!ticket) {
      var early = state.early[f.conversation] || (state.early[f.conversation] = []);
      if (early.length < 200) early.push(m);
      return;
    }
    var added = mergeMessages(ticket, [m]);
    if (!added.length) return;
    showAdded(ticket, added);
    renderQueue();
  };

  /* Live messages of a known ticket: settle the agent's pending replies, mark unread, show if on screen. */
  function showAdded(ticket, added) {
    if (!added.length) return;
    var selected = state.selected === ticket.id;
    var shownUpTo = 0;
    Object.keys(view.byId).forEach(function (id) { shownUpTo = Math.max(shownUpTo, Number(id)); });
    var outOfOrder = false;
    added.forEach(function (m) {
      if (m.role === "bot") delete state.typing[ticket.conversation];
      if (m.role === "customer" && !selected && ticket.status !== "resolved") state.fresh[ticket.id] = true;
      if (m.role === "customer" && isMine(ticket) && (!selected || document.hidden)) alertAgent(ticket, m.text);
      adoptPending(m);
      if (m.id < shownUpTo && !view.byId[m.id]) outOfOrder = true;
    });
    if (!selected) return;
    if (outOfOrder) {
      renderTranscript();
      return;
    }
    added.forEach(function (m) { appendMessage(m); });
    renderTyping();
  }

  handlers.delta = function (f) {
    var s = state.typing[f.conversation];
    if (!s || s.job !== f.job) s = state.typing[f.conversation] = { job: f.job, text: "", at: 0 };
    s.text += f.text || "";
    s.at = Date.now();
    if (isSelected(f.conversation)) renderTyping();
  };

  handlers.status = function (f) {
    var ticket = ticketOf(f.conversation);
    if (!ticket) return;
    ticket.conversation_status = f.status;
    if (f.status !== "bot") delete state.typing[f.conversation];
    renderQueue();
    if (state.selected === ticket.id) {
      renderDetail();
      renderTyping();
    }
  };

  handlers.suggestions = function (f) {
    var s = suggestionState(f.conversation);
    s.items = f.items || [];
    // Draft frames name the request they answer: a refreshed panel ignores the old draft's tail.
    s.request = f.request || null;
    if (isSelected(f.conversation)) renderSuggestions();
  };

  handlers.draft_delta = function (f) {
    var s = suggestionState(f.conversation);
    if (s.done || f.request !== s.request) return;
    s.drafting = true;
    s.draft += f.text || "";
    if (isSelected(f.conversation)) renderDraft(s);
  };

  handlers.draft = function (f) {
    var s = suggestionState(f.conversation);
    if (f.request !== s.request) return;
    s.drafting = true;
    s.done = true;
    s.error = f.error || "";
    if (typeof f.text === "string" && (f.text || !s.error)) s.draft = f.text;
    if (isSelected(f.conversation)) renderDraft(s);
  };

  handlers.ack = function (f) {
    if (f.action === "claim") {
      var claimed = ticketOf(f.conversation);
      if (claimed) {
        delete state.busy["claim:" + claimed.id];
        // The ack is the server's word that this agent holds the ticket; the ticket frame confirms it.
        claimed.status = "claimed";
        claimed.agent = state.me;
        renderQueue();
      }
    } else if (f.action === "release" || f.action === "close") {
      delete state.busy[f.action + ":" + f.conversation];
    } else if (f.action === "reply" && f.client_id) {
      ackPending(f.client_id, f.message_id);
    }
    if (isSelected(f.conversation)) {
      renderDetail();
      maybeSuggest(false);
    }
  };

  handlers.error = function (f) {
    if (f.client_id && state.pending[f.client_id]) failPending(f.client_id);
    if (f.conversation !== undefined && f.conversation !== null) {
      var t = ticketOf(f.conversation);
      if (t) delete state.busy["claim:" + t.id];
      delete state.busy["release:" + f.conversation];
      delete state.busy["close:" + f.conversation];
    } else {
      state.busy = {};
    }
    showNotice(f.message || f.code || "", "error");
    renderDetail();
  };

  handlers.pong = function () {};

  function forgetTicket(ticket) {
    delete state.tickets[ticket.id];
    if (state.byConversation[ticket.conversation] === ticket.id) delete state.byConversation[ticket.conversation];
  }

  // --- the agent's own replies: pending until the server has recorded them --------------------------

  function settlePending() {
    Object.keys(state.pending).forEach(function (clientId) {
      var p = state.pending[clientId];
      if (p.failed) {
        // Already shown as not sent, with its text put back for the agent to send again.
        delete state.pending[clientId];
        return;
      }
      var ticket = ticketOf(p.conversation);
      if (ticket && p.messageId && ticket.messages.some(function (m) { return m.id === p.messageId; })) {
        delete state.pending[clientId];
        return;
      }
      var recorded = ticket && ticket.messages.filter(function (m) { return m.client_id === clientId; })[0];
      if (recorded) {
        delete state.pending[clientId];
      } else if (p.messageId) {
        delete state.pending[clientId];
      } else if (canReply(ticket)) {
        // Sent again with the same client id: the server keeps one message per client id.
        socket.send({ type: "reply", conversation: p.conversation, text: p.text, client_id: clientId });
      } else {
        p.failed = true;
      }
    });
  }

  function adoptPending(message) {
    Object.keys(state.pending).forEach(function (clientId) {
      var p = state.pending[clientId];
      if (p.messageId !== message.id && message.client_id !== clientId) return;
      delete state.pending[clientId];
      var node = view.byClient[clientId];
      delete view.byClient[clientId];
      if (!node) return;
      if (view.byId[message.id] && view.byId[message.id] !== node) {
        node.remove();
      } else {
        fillBubble(node, message);
        view.byId[message.id] = node;
      }
    });
  }

  function ackPending(clientId, messageId) {
    var p = state.pending[clientId];
    if (!p) return;
    p.messageId = messageId;
    var ticket = ticketOf(p.conversation);
    var recorded = ticket && ticket.messages.filter(function (m) { return m.id === messageId; })[0];
    if (recorded) {
      adoptPending(recorded);
      return;
    }
    var node = view.byClient[clientId];
    if (node && messageId) {
      node.classList.remove("ad-pending");
      node.setAttribute("data-message-id", String(messageId));
      setMeta(node, { role: "agent", agent: state.me, source: "agent", created_at: new Date().toISOString() });
      view.byId[messageId] = node;
    }
  }

  function failPending(clientId) {
    var p = state.pending[clientId];
    p.failed = true;
    var node = view.byClient[clientId];
    if (node) {
      node.classList.remove("ad-pending");
      node.classList.add("ad-failed");
      setMeta(node, { role: "agent", agent: state.me, source: "agent" }, T.failed);
    }
    if (isSelected(p.conversation) && !dom.input.value) {
      dom.input.value = p.text;
      updateCounter();
    }
  }

  function submitReply() {
    var ticket = selectedTicket();
    if (!canReply(ticket)) return;
    var text = dom.input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) {
      showNotice(fill(T.tooLong, { max: MAX_CHARS, n: text.length }), "error");
      return;
    }
    var clientId = C.newClientId("a-");
    state.pending[clientId] = { conversation: ticket.conversation, text: text, messageId: null, failed: false };
    appendPending(clientId);
    dom.input.value = "";
    state.drafts[ticket.conversation] = "";
    updateCounter();
    if (socket.send({ type: "reply", conversation: ticket.conversation, text: text, client_id: clientId })) showNotice("");
    else showNotice(T.offline, "warn");
  }

  // --- rendering: the queue -----------------------------------------------------------------------------

  function isStale(t) {
    return t.status === "open" && Date.now() - Date.parse(t.created_at) > STALE_MS;
  }

  function queueRank(t) {
    if (t.status === "open") return isStale(t) ? 1 : 0;
    return t.agent === state.me ? 2 : 3;
  }

  /* Waiting tickets first, the longest waiting on top, so a new request is never buried under stale
   * ones (those come after, newest first); then this agent's claimed tickets, then the colleagues'. */
  function queueOrder(a, b) {
    var rank = queueRank(a) - queueRank(b);
    if (rank) return rank;
    var older = Date.parse(a.created_at) - Date.parse(b.created_at);
    return (queueRank(a) === 1 ? -older : older) || a.id - b.id;
  }

  function shownStore(slug) {
    return !dom.storeFilter || !dom.storeFilter.value || dom.storeFilter.value === slug;
  }

  function activeTickets() {
    return Object.keys(state.tickets)
      .map(function (id) { return state.tickets[id]; })
      .filter(function (t) { return (t.status === "open" || t.status === "claimed") && shownStore(t.store); })
      .sort(queueOrder);
  }

  /* What the database counted at the hello beyond the tickets it carried (the hello holds the newest). */
  function rememberHidden(counts) {
    state.hidden = {};
    state.oldestLoaded = null;
    var loaded = {};
    Object.keys(state.tickets).forEach(function (id) {
      var t = state.tickets[id];
      var per = loaded[t.store] || (loaded[t.store] = { open: 0, claimed: 0 });
      if (per[t.status] !== undefined) per[t.status] += 1;
      var at = Date.parse(t.created_at);
      if (state.oldestLoaded === null || at < state.oldestLoaded) state.oldestLoaded = at;
    });
    Object.keys(counts).forEach(function (slug) {
      var per = loaded[slug] || { open: 0, claimed: 0 };
      state.hidden[slug] = {
        open: Math.max(0, (counts[slug].open || 0) - per.open),
        claimed: Math.max(0, (counts[slug].claimed || 0) - per.claimed)
      };
    });
  }

  /* A ticket older than everything the hello carried was one of the hidden ones: it no longer counts
   * there (it changed, and now shows in the queue or left it). */
  function countHiddenGone(t) {
    var hidden = state.hidden[t.store];
    if (!hidden || state.oldestLoaded === null || Date.parse(t.created_at) >= state.oldestLoaded) return;
    if (hidden.open > 0) hidden.open -= 1;
    else if (hidden.claimed > 0) hidden.claimed -= 1;
  }

  function hiddenCount(status) {
    return Object.keys(state.hidden).reduce(function (sum, slug) {
      return sum + (shownStore(slug) ? state.hidden[slug][status] : 0);
    }, 0);
  }

  function renderQueue() {
    var tickets = activeTickets();
    var listedOpen = tickets.filter(function (t) { return t.status === "open"; }).length;
    var more = hiddenCount("open") + hiddenCount("claimed");
    var open = listedOpen + hiddenCount("open");
    dom.queue.textContent = "";
    tickets.forEach(function (t) { dom.queue.appendChild(queueItem(t)); });
    dom.queueEmpty.hidden = tickets.length > 0;
    dom.openCount.textContent = String(open);
    dom.claimedCount.textContent = String(tickets.length - listedOpen + hiddenCount("claimed"));
    if (dom.queueMore) {
      dom.queueMore.hidden = more === 0;
      dom.queueMore.textContent = more ? fill(T.queueMore, { n: more }) : "";
    }
    if (dom.closeStale) dom.closeStale.hidden = !(more > 0 || tickets.some(isStale));
    document.title = (open ? "(" + open + ") " : "") + BASE_TITLE;
  }

  function queueItem(t) {
    var item = el("li", "ad-ticket");
    item.setAttribute("data-ticket", String(t.id));
    item.setAttribute("data-conversation", String(t.conversation));
    item.setAttribute("data-status", t.status);
    item.classList.toggle("ad-selected", state.selected === t.id);
    item.classList.toggle("ad-fresh", !!state.fresh[t.id]);
    item.classList.toggle("ad-mine", isMine(t));

    var body = button("ad-ticket-body");
    if (state.selected === t.id) body.setAttribute("aria-current", "true");

    var top = el("div", "ad-ticket-top");
    top.appendChild(el("span", "ad-ticket-store", t.store_name || t.store));
    var badge = el("span", "ad-badge ad-badge-" + t.status, T.ticket[t.status] || t.status);
    top.appendChild(badge);
    var since = el("span", "ad-age" + (isStale(t) ? " ad-stale" : ""), ageOf(t));
    since.setAttribute("data-since", t.created_at || "");
    since.setAttribute("data-status", t.status);
    top.appendChild(since);
    body.appendChild(top);

    var reason = el("div", "ad-ticket-reason", reasonLabel(t));
    if (t.contact) reason.appendChild(el("span", "ad-ticket-contact", t.contact));
    // The product page the shopper was on: what their "这件" is about.
    if (t.product) reason.appendChild(el("span", "ad-ticket-product", t.product.name));
    body.appendChild(reason);

    var last = lastCustomerMessage(t);
    body.appendChild(el("div", "ad-ticket-preview" + (last ? "" : " ad-muted"), last ? last.text : T.noPreview));
    body.appendChild(el("div", "ad-ticket-agent", t.agent ? T.claimedBy + agentName(t.agent) : T.unclaimed));

    body.addEventListener("click", function () { select(t.id); });
    item.appendChild(body);
    return item;
  }

  function refreshAges() {
    Array.prototype.forEach.call(dom.queue.querySelectorAll(".ad-age[data-since]"), function (node) {
      node.textContent = ageOf({ created_at: node.getAttribute("data-since"), status: node.getAttribute("data-status") });
    });
    var ticket = selectedTicket();
    if (ticket) dom.created.textContent = clock(ticket.created_at) + " · " + age(ticket.created_at);
    Object.keys(state.typing).forEach(function (conversation) {
      if (Date.now() - state.typing[conversation].at > TYPING_TTL_MS) {
        delete state.typing[conversation];
        if (isSelected(Number(conversation))) renderTyping();
      }
    });
  }

  // --- rendering: the selected conversation --------------------------------------------------------

  function select(ticketId) {
    var current = selectedTicket();
    if (current) state.drafts[current.conversation] = dom.input.value;
    state.selected = ticketId;
    delete state.fresh[ticketId];
    // A resolved ticket kept only for reading leaves once the agent moves on.
    if (current && current.id !== ticketId && current.status === "resolved") forgetTicket(current);
    showNotice("");
    renderQueue();
    showTicket();
  }

  /* Draws the selected ticket from scratch: its transcript, details, reply box and suggestions. */
  function showTicket() {
    var ticket = selectedTicket();
    dom.input.value = ticket ? state.drafts[ticket.conversation] || "" : "";
    updateCounter();
    renderTranscript();
    renderDetail();
    maybeSuggest(false);
  }

  function renderDetail() {
    var t = selectedTicket();
    dom.placeholder.hidden = !!t;
    dom.detail.hidden = !t;
    dom.info.hidden = !t;
    dom.suggestPanel.hidden = !canReply(t);
    if (!t) return;

    dom.title.textContent = (t.store_name || t.store) + " · " + visitorName(t) + (t.product ? " · " + t.product.name : "");
    dom.ticketStatus.textContent = T.ticket[t.status] || t.status;
    dom.ticketStatus.className = "ad-badge ad-badge-" + t.status;
    dom.convStatus.textContent = T.conversation[t.conversation_status] || t.conversation_status || "";
    dom.convStatus.className = "ad-badge ad-conv-" + t.conversation_status;
    dom.convStatus.setAttribute("data-status", t.conversation_status || "");
    dom.detail.setAttribute("data-ticket", String(t.id));
    dom.detail.setAttribute("data-status", t.status);
    dom.convAgent.textContent = t.agent ? T.claimedBy + agentName(t.agent) : T.unclaimed;

    var claiming = !!state.busy["claim:" + t.id];
    // A colleague's chat can be taken over once they have no console open (the server checks).
    var takeOver = t.status === "claimed" && !isMine(t);
    dom.claim.hidden = t.status !== "open" && !takeOver;
    dom.claim.disabled = claiming || !socket.ready;
    dom.claim.textContent = claiming ? T.claiming : takeOver ? T.takeOver : T.claim || "认领";
    var replying = canReply(t);
    dom.release.hidden = !replying;
    dom.close.hidden = !replying;
    dom.release.disabled = !!state.busy["release:" + t.conversation] || !socket.ready;
    dom.close.disabled = !!state.busy["close:" + t.conversation] || !socket.ready;
    dom.reply.hidden = !replying;

    var note = "";
    if (t.status === "resolved") note = T.resolved;
    else if (t.status === "open") note = T.needClaim;
    else if (!isMine(t)) note = fill(T.claimedByOther, { agent: t.agent || "" });
    else if (t.conversation_status === "closed") note = T.closedConversation;
    dom.readonly.textContent = note;
    dom.readonly.hidden = !note;

    dom.reason.textContent = reasonLabel(t);
    dom.contact.textContent = t.contact || T.noContact;
    dom.contact.classList.toggle("ad-muted", !t.contact);
    var v = t.visitor || {};
    dom.visitor.textContent = visitorName(t) + (v.customer_id && v.display_name ? "（" + v.customer_id + "）" : "");
    dom.created.textContent = clock(t.created_at) + " · " + age(t.created_at);
    renderMatched(t);
  }

  function renderMatched(t) {
    dom.matched.textContent = "";
    var entries = t.matched || [];
    if (!entries.length) {
      dom.matched.appendChild(el("li", "ad-muted", T.noMatched));
      return;
    }
    entries.forEach(function (entry) {
      var li = el("li", "ad-matched-item");
      li.setAttribute("data-kind", entry.kind || "");
      li.appendChild(tag(entry.kind || "other", T.kinds[entry.kind] || entry.kind || ""));
      li.appendChild(el("span", "ad-matched-title", entry.title || ""));
      dom.matched.appendChild(li);
    });
  }

  function nearBottom() {
    var box = dom.transcript;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function scrollDown() {
    dom.transcript.scrollTop = dom.transcript.scrollHeight;
  }

  function renderTranscript() {
    var t = selectedTicket();
    dom.transcript.textContent = "";
    view.ticket = t ? t.id : null;
    view.byId = {};
    view.byClient = {};
    view.typing = null;
    if (!t) return;
    t.messages.forEach(function (m) { appendMessage(m); });
    Object.keys(state.pending).forEach(function (clientId) {
      if (state.pending[clientId].conversation === t.conversation) appendPending(clientId);
    });
    renderTyping();
    scrollDown();
  }

  function bubble(role) {
    var node = el("div", "ad-msg ad-role-" + role);
    node.setAttribute("data-role", role);
    node.appendChild(el("div", "ad-msg-meta"));
    node.appendChild(el("div", "ad-msg-text"));
    return node;
  }

  function setMeta(node, m, note) {
    var meta = node.querySelector(".ad-msg-meta");
    meta.textContent = "";
    var who = T.roles[m.role] || m.role;
    if (m.role === "agent" && m.agent) who += " " + (m.agent === state.me ? T.me : m.agent_name || m.agent);
    meta.appendChild(el("span", "ad-who", who));
    if (m.source && T.sources[m.source]) meta.appendChild(tag(m.source, T.sources[m.source]));
    if (m.created_at) meta.appendChild(el("span", "ad-time", clock(m.created_at)));
    if (m.partial) meta.appendChild(el("span", "ad-note", T.partial));
    if (note) meta.appendChild(el("span", "ad-note", note));
  }

  function fillBubble(node, m) {
    node.classList.remove("ad-pending", "ad-failed");
    node.removeAttribute("data-client-id");
    node.setAttribute("data-message-id", String(m.id));
    node.setAttribute("data-source", m.source || "");
    node.querySelector(".ad-msg-text").textContent = m.text || "";
    setMeta(node, m);
  }

  function appendMessage(m) {
    if (view.ticket === null || view.byId[m.id]) return;
    var t = state.tickets[view.ticket];
    if (!t || !t.messages.some(function (x) { return x.id === m.id; })) return;
    var stick = nearBottom();
    var node = bubble(m.role);
    fillBubble(node, m);
    view.byId[m.id] = node;
    dom.transcript.insertBefore(node, firstPendingOrTyping());
    if (stick) scrollDown();
  }

  /* Recorded messages stay above the agent's unconfirmed ones and the bot's typing line. */
  function firstPendingOrTyping() {
    return dom.transcript.querySelector(".ad-pending, .ad-failed, .ad-typing");
  }

  function appendPending(clientId) {
    var p = state.pending[clientId];
    if (view.ticket === null || !isSelected(p.conversation)) return;
    var node = bubble("agent");
    node.classList.add(p.failed ? "ad-failed" : "ad-pending");
    node.setAttribute("data-client-id", clientId);
    node.querySelector(".ad-msg-text").textContent = p.text;
    setMeta(node, { role: "agent", agent: state.me, source: "agent" }, p.failed ? T.failed : T.pending);
    view.byClient[clientId] = node;
    dom.transcript.insertBefore(node, dom.transcript.querySelector(".ad-typing"));
    scrollDown();
  }

  function renderTyping() {
    var t = selectedTicket();
    var s = t && state.typing[t.conversation];
    if (!s) {
      if (view.typing) view.typing.remove();
      view.typing = null;
      return;
    }
    if (!view.typing) {
      view.typing = bubble("bot");
      view.typing.classList.add("ad-typing");
      setMeta(view.typing, { role: "bot" }, T.typing);
      dom.transcript.appendChild(view.typing);
    }
    var stick = nearBottom();
    view.typing.querySelector(".ad-msg-text").textContent = s.text;
    if (stick) scrollDown();
  }

  function showNotice(text, kind) {
    clearTimeout(showNotice.timer);
    dom.notice.textContent = text || "";
    dom.notice.hidden = !text;
    dom.notice.className = "ad-notice" + (kind ? " ad-notice-" + kind : "");
    if (text) {
      showNotice.timer = setTimeout(function () { dom.notice.hidden = true; }, 8000);
    }
  }

  function updateCounter() {
    var n = dom.input.value.length;
    dom.counter.textContent = n + "/" + MAX_CHARS;
    dom.counter.classList.toggle("ad-over", n > MAX_CHARS);
  }

  // --- suggested replies ------------------------------------------------------------------------------

  function suggestionState(conversation) {
    var s = state.suggestions[conversation];
    if (!s) {
      s = state.suggestions[conversation] = {
        after: null,
        items: null,
        request: null,
        draft: "",
        drafting: false,
        done: false,
        error: ""
      };
    }
    return s;
  }

  /* Asks once per customer message: a new question from the shopper makes the old suggestions stale. */
  function maybeSuggest(force) {
    var t = selectedTicket();
    if (!canReply(t)) return;
    var last = lastCustomerMessage(t);
    var after = last ? last.id : 0;
    var s = state.suggestions[t.conversation];
    if (s && !force && s.after === after) {
      renderSuggestions();
      return;
    }
    if (!socket.send({ type: "suggest", conversation: t.conversation })) return;
    delete state.suggestions[t.conversation];
    suggestionState(t.conversation).after = after;
    renderSuggestions();
  }

  function suggestionCard(kind, title, text) {
    var card = button("sd-suggestion ad-card");
    card.setAttribute("data-kind", kind);
    var head = el("div", "ad-card-head");
    head.appendChild(tag(kind, T.kinds[kind] || kind));
    if (title) head.appendChild(el("span", "ad-card-title", title));
    card.appendChild(head);
    card.appendChild(el("div", "ad-card-text", text));
    return card;
  }

  function useSuggestion(text) {
    // Only into the box: the agent reads and edits it, and sends it with 发送.
    dom.input.value = text;
    updateCounter();
    dom.input.focus();
    var t = selectedTicket();
    if (t) state.drafts[t.conversation] = text;
  }

  function renderSuggestions() {
    var t = selectedTicket();
    dom.suggestions.textContent = "";
    if (!canReply(t)) return;
    var s = state.suggestions[t.conversation];
    if (!s || s.items === null) {
      dom.suggestions.appendChild(el("p", "ad-muted ad-suggest-loading", T.loading));
      return;
    }
    s.items.forEach(function (item) {
      var card = suggestionCard(item.kind || "faq", item.title || "", item.text || "");
      if (item.faq_id !== undefined && item.faq_id !== null) card.setAttribute("data-faq-id", String(item.faq_id));
      card.addEventListener("click", function () { useSuggestion(item.text || ""); });
      dom.suggestions.appendChild(card);
    });
    if (!s.items.length && !s.drafting) dom.suggestions.appendChild(el("p", "ad-muted ad-suggest-none", T.noSuggestions));
    if (s.drafting) renderDraft(s);
  }

  /* The model's draft card, updated in place while it streams so a click on another card is never lost. */
  function renderDraft(s) {
    var card = dom.suggestions.querySelector(".ad-draft");
    if (!card) {
      if (s.items === null) return; // drawn with the list once the suggestions frame is in
      var none = dom.suggestions.querySelector(".ad-suggest-none");
      if (none) none.remove();
      card = suggestionCard("draft", "", "");
      card.classList.add("ad-draft");
      card.addEventListener("click", function () {
        if (s.draft && !card.disabled) useSuggestion(s.draft);
      });
      dom.suggestions.appendChild(card);
    }
    var unusable = s.done && (!!s.error || !s.draft);
    var text = s.draft;
    if (unusable) text = s.error === "busy" ? T.draftBusy : s.error ? T.draftFailed : T.draftEmpty;
    card.querySelector(".ad-card-text").textContent = text || T.drafting;
    card.classList.toggle("ad-streaming", !s.done);
    card.setAttribute("data-state", unusable ? "empty" : s.done ? "done" : "streaming");
    card.disabled = unusable || !s.draft;
  }

  // --- actions ------------------------------------------------------------------------------------------

  dom.claim.addEventListener("click", function () {
    var t = selectedTicket();
    if (!t || !(t.status === "open" || (t.status === "claimed" && !isMine(t)))) return;
    if (socket.send({ type: "claim", ticket: t.id })) {
      state.busy["claim:" + t.id] = true;
      renderDetail();
    }
  });

  dom.release.addEventListener("click", function () {
    var t = selectedTicket();
    if (!canReply(t)) return;
    if (socket.send({ type: "release", conversation: t.conversation })) {
      state.busy["release:" + t.conversation] = true;
      renderDetail();
    }
  });

  dom.close.addEventListener("click", function () {
    var t = selectedTicket();
    if (!canReply(t) || !window.confirm(T.confirmClose)) return;
    if (socket.send({ type: "close", conversation: t.conversation })) {
      state.busy["close:" + t.conversation] = true;
      renderDetail();
    }
  });

  dom.refresh.addEventListener("click", function () { maybeSuggest(true); });

  dom.reply.addEventListener("submit", function (e) {
    e.preventDefault();
    submitReply();
  });

  dom.input.addEventListener("keydown", function (e) {
    if (C.isSendKey(e)) {
      e.preventDefault();
      submitReply();
    }
  });

  dom.input.addEventListener("input", function () {
    updateCounter();
    var t = selectedTicket();
    if (t) state.drafts[t.conversation] = dom.input.value;
  });

  if (dom.storeFilter) dom.storeFilter.addEventListener("change", renderQueue);

  function queueNotice(text) {
    var node = byId("agent-queue-notice");
    if (!node) return;
    node.textContent = text;
    node.hidden = !text;
  }

  /* 关闭超时工单: the server ends those chats; their tickets leave the queue through the socket. */
  if (dom.closeStale) {
    dom.closeStale.addEventListener("click", function () {
      if (!window.confirm(fill(T.confirmCloseStale, { hours: CONFIG.stale_hours || 24 }))) return;
      var token = document.querySelector("input[name=csrfmiddlewaretoken]");
      var body = new URLSearchParams();
      if (dom.storeFilter && dom.storeFilter.value) body.set("store", dom.storeFilter.value);
      dom.closeStale.disabled = true;
      fetch(CONFIG.close_stale_url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.value : "" },
        body: body
      }).then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error(data.error || String(response.status));
          queueNotice(fill(T.closedStale, { n: data.closed }));
        });
      }).catch(function () {
        queueNotice(T.closeStaleFailed);
      }).then(function () { dom.closeStale.disabled = false; });
    });
  }

  window.addEventListener("online", function () { socket.reconnectNow(); });
  setInterval(refreshAges, 30000);

  setConnected(false);
  updateCounter();
  renderQueue();
  renderDetail();
  socket.connect();
})(window.ShopDeskCommon);
