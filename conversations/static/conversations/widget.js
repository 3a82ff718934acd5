/* ShopDesk chat widget: one <script> tag, no build step, no third-party code. It loads common.js (the
 * helpers it shares with the agent console) from next to itself.
 *
 *   <script src="https://desk.example.com/static/conversations/widget.js" data-store="demo" async></script>
 *
 * Optional attributes: data-customer + data-sig (verified identity: hex HMAC-SHA256 of the customer id
 * with the store's widget secret), data-lang ("zh" or "en"), data-mode ("page": a full-page chat),
 * data-product (the SKU of the product on the page: "有现货吗" and "这件" are about it). A single-page shop
 * that changes product without reloading calls ShopDeskWidget.viewProduct("SKU").
 * Everything the bot or an agent says is rendered as text: DOM text nodes, plus **bold** and
 * http(s) links built element by element; no HTML is ever parsed, no image from a message is loaded.
 *
 * One file on purpose (about 1,000 lines: texts in two languages, the view, the session): a shop pastes
 * one tag, and every extra file is one more request on its product page before the chat can open.
 */
(function () {
  "use strict";

  var SCRIPT = document.currentScript;
  var BASE = new URL(SCRIPT ? SCRIPT.src : "/static/conversations/widget.js", location.href);
  var SERVER = BASE.origin;
  var CSS_URL = new URL("widget.css", BASE).href;
  var MAX_CHARS = 2000;
  var MAX_RESENDS = 5;

  var I18N = {
    zh: {
      open: "在线客服",
      placeholder: "请输入您的问题…",
      send: "发送",
      handoff: "转人工",
      end: "结束对话",
      minimize: "收起",
      bot: "智能客服为您服务",
      waiting: "正在为您转接人工客服…",
      human: "人工客服为您服务",
      closed: "对话已结束",
      connecting: "连接中…",
      offline: "网络已断开，正在重连…（消息会在恢复后发送）",
      blocked: "此网站未获授权使用在线客服。",
      tooLong: "消息太长了：最多 {max} 字，当前 {n} 字。",
      rateLimited: "您发送得太快了，稍后会自动重发。",
      failed: "未发送",
      partial: "（回答未完成）",
      helpful: "有帮助",
      notHelpful: "没帮助",
      commentPlaceholder: "哪里不好？（可选）",
      commentSend: "提交",
      thanks: "感谢您的反馈！",
      rateTitle: "请为本次服务评分",
      rateComment: "还有什么想说的吗？（可选）",
      rateSubmit: "提交评分",
      rateThanks: "感谢您的评价！",
      newChat: "开始新的对话",
      confirmEnd: "确定结束本次对话吗？",
      you: "我",
      agent: "人工客服",
      agentsOffline: "暂时没有人工客服在线",
      afterHours: "现在是非工作时间（{hours}）",
      afterHoursPlain: "现在是非工作时间",
      contactPrompt: "请留下手机号、微信号或邮箱，客服上线后会第一时间联系您",
      contactPlaceholder: "手机号 / 微信号 / 邮箱",
      contactSend: "提交",
      contactSaved: "已收到您的联系方式：{value}，客服上线后会尽快联系您。",
      contactInvalid: "请填写有效的手机号、微信号或邮箱。",
      contactOffline: "网络已断开，请稍后再提交。"
    },
    en: {
      open: "Chat with us",
      placeholder: "Type your question…",
      send: "Send",
      handoff: "Human agent",
      end: "End chat",
      minimize: "Minimise",
      bot: "Our assistant is here to help",
      waiting: "Connecting you to a human agent…",
      human: "A human agent is with you",
      closed: "The chat has ended",
      connecting: "Connecting…",
      offline: "Offline, reconnecting… (your messages will be sent when we are back)",
      blocked: "This site is not allowed to use this chat.",
      tooLong: "That message is too long: at most {max} characters, it has {n}.",
      rateLimited: "You are sending too fast; we will resend in a moment.",
      failed: "Not sent",
      partial: "(answer incomplete)",
      helpful: "Helpful",
      notHelpful: "Not helpful",
      commentPlaceholder: "What was wrong? (optional)",
      commentSend: "Send",
      thanks: "Thanks for your feedback!",
      rateTitle: "How did we do?",
      rateComment: "Anything else? (optional)",
      rateSubmit: "Submit rating",
      rateThanks: "Thank you for rating us!",
      newChat: "Start a new chat",
      confirmEnd: "End this chat?",
      you: "Me",
      agent: "Agent",
      agentsOffline: "No human agent is online right now",
      afterHours: "We are outside business hours ({hours})",
      afterHoursPlain: "We are outside business hours",
      contactPrompt: "Leave your phone number, WeChat ID or e-mail and an agent will contact you as soon as they are back",
      contactPlaceholder: "Phone / WeChat ID / e-mail",
      contactSend: "Send",
      contactSaved: "Thank you! An agent will contact you at {value} as soon as possible.",
      contactInvalid: "Please enter a valid phone number, WeChat ID or e-mail.",
      contactOffline: "You are offline; please send it again in a moment."
    }
  };

  /* Everything below needs common.js; see the loader at the end of this file. */
  function widget(C) {
    var el = C.el;
    var button = C.button;
    var fill = C.fill;

    // --- small helpers ------------------------------------------------------------------------------

    /* A tiny markdown subset: **bold** and [label](http(s)://...) links. Everything else, HTML included,
     * stays literal text. Images are never rendered (no remote images in chat text). */
    function renderRich(node, text) {
      node.textContent = "";
      // Image syntax is matched first only to be kept literal: a message never loads a remote image.
      var re = /(!\[[^\]\n]*\]\([^)\n]*\))|\*\*([^*\n]+)\*\*|\[([^\]\n]+)\]\((https?:\/\/[^\s()<>"']+)\)/g;
      var last = 0;
      var m;
      while ((m = re.exec(text))) {
        if (m.index > last) node.appendChild(document.createTextNode(text.slice(last, m.index)));
        if (m[1] !== undefined) {
          node.appendChild(document.createTextNode(m[1]));
        } else if (m[2] !== undefined) {
          node.appendChild(el("strong", "", m[2]));
        } else {
          var a = el("a", "", m[3]);
          a.href = m[4];
          if (a.protocol !== "http:" && a.protocol !== "https:") {
            node.appendChild(document.createTextNode(m[0]));
          } else {
            a.target = "_blank";
            a.rel = "noopener noreferrer nofollow";
            node.appendChild(a);
          }
        }
        last = re.lastIndex;
      }
      if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
    }

    var ICONS = {
      chat: "M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z",
      up: "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z",
      down: "M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z"
    };

    function icon(name) {
      var ns = "http://www.w3.org/2000/svg";
      var svg = document.createElementNS(ns, "svg");
      svg.setAttribute("viewBox", "0 0 24 24");
      svg.setAttribute("aria-hidden", "true");
      svg.setAttribute("class", "sd-icon");
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", ICONS[name]);
      path.setAttribute("fill", "currentColor");
      svg.appendChild(path);
      return svg;
    }

    function safeColor(value) {
      return typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value) ? value : "#e4393c";
    }

    function safeAvatar(value) {
      return typeof value === "string" && /^(https?:\/\/|\/[^/]|data:image\/(png|jpeg|gif|webp);)/.test(value)
        ? value
        : "";
    }

    function pickLang(explicit, theme) {
      if (explicit === "zh" || explicit === "en") return explicit;
      var setting = theme && theme.lang;
      if (setting === "zh" || setting === "en") return setting;
      var nav = (navigator.languages && navigator.languages[0]) || navigator.language || "zh";
      return /^zh/i.test(nav) ? "zh" : "en";
    }

    function makeStorage(prefix) {
      var memory = {};
      function get(key) {
        try {
          return window.localStorage.getItem(prefix + key);
        } catch (e) {
          return Object.prototype.hasOwnProperty.call(memory, key) ? memory[key] : null;
        }
      }
      function set(key, value) {
        try {
          if (value === null) window.localStorage.removeItem(prefix + key);
          else window.localStorage.setItem(prefix + key, value);
        } catch (e) {
          if (value === null) delete memory[key];
          else memory[key] = value;
        }
      }
      return { get: get, set: set };
    }

    // --- the view: header, message list, chips, composer ------------------------------------------

    function View(root, config, lang, opts) {
      var t = I18N[lang];
      var theme = config.theme || {};
      this.t = t;
      this.lang = lang;
      this.opts = opts;
      this.byId = {};
      this.byClient = {};
      this.byJob = {};

      var host = el("div", "sd-root sd-" + (theme.position === "left" ? "left" : "right") + (opts.page ? " sd-page" : ""));
      host.style.setProperty("--sd-color", safeColor(theme.color));
      host.setAttribute("lang", lang === "zh" ? "zh-CN" : "en");
      this.host = host;

      this.launcher = button("sd-launcher", "", t.open);
      this.launcher.appendChild(icon("chat"));
      this.launcher.appendChild(el("span", "sd-launcher-label", theme.title || t.open));

      var panel = el("section", "sd-panel");
      panel.setAttribute("role", "dialog");
      panel.setAttribute("aria-label", theme.title || config.name || t.open);
      this.panel = panel;

      var header = el("header", "sd-header");
      var avatarUrl = safeAvatar(theme.avatar);
      var avatar = el("div", "sd-avatar");
      if (avatarUrl) {
        var img = el("img");
        img.src = avatarUrl;
        img.alt = "";
        avatar.appendChild(img);
      } else {
        avatar.textContent = (config.assistant_name || config.name || "客").slice(0, 1);
      }
      var titles = el("div", "sd-titles");
      this.title = el("div", "sd-title", theme.title || config.name || t.open);
      this.title.title = this.title.textContent;
      this.status = el("div", "sd-status", t.connecting);
      this.status.setAttribute("aria-live", "polite");
      titles.appendChild(this.title);
      titles.appendChild(this.status);
      this.handoffButton = button("sd-handoff", t.handoff, t.handoff);
      this.endButton = button("sd-end", t.end, t.end);
      this.minButton = button("sd-min", "×", t.minimize);
      header.appendChild(avatar);
      header.appendChild(titles);
      header.appendChild(this.handoffButton);
      header.appendChild(this.endButton);
      if (!opts.page) header.appendChild(this.minButton);

      this.list = el("div", "sd-list");
      this.list.setAttribute("aria-live", "polite");
      this.welcome = el("div", "sd-msg sd-bot sd-welcome");
      this.welcome.setAttribute("data-role", "welcome");
      var welcomeText = el("div", "sd-text");
      renderRich(welcomeText, config.welcome || "");
      this.welcome.appendChild(welcomeText);
      if (config.welcome) this.list.appendChild(this.welcome);

      this.notice = el("div", "sd-notice");
      this.notice.setAttribute("role", "status");
      this.notice.hidden = true;

      this.chips = el("div", "sd-chips");
      this.setQuickQuestions(config.quick_questions || []);

      this.csat = el("div", "sd-csat");
      this.csat.hidden = true;

      // While the shopper waits for a human: why nobody answers yet, and a way to be contacted later.
      this.handoffBox = el("div", "sd-handoff-box");
      this.handoffBox.hidden = true;
      this.availability = el("div", "sd-availability");
      this.availability.setAttribute("role", "status");
      this.availability.hidden = true;
      this.contactForm = el("form", "sd-contact");
      this.contactForm.hidden = true;
      var contactPrompt = el("div", "sd-contact-prompt", t.contactPrompt);
      var contactRow = el("div", "sd-contact-row");
      this.contactInput = el("input", "sd-contact-input");
      this.contactInput.maxLength = 200;
      this.contactInput.placeholder = t.contactPlaceholder;
      this.contactInput.setAttribute("aria-label", t.contactPrompt);
      this.contactSend = button("sd-contact-send", t.contactSend);
      this.contactSend.type = "submit";
      this.contactError = el("div", "sd-contact-error");
      this.contactError.setAttribute("role", "alert");
      this.contactError.hidden = true;
      contactRow.appendChild(this.contactInput);
      contactRow.appendChild(this.contactSend);
      this.contactForm.appendChild(contactPrompt);
      this.contactForm.appendChild(contactRow);
      this.contactForm.appendChild(this.contactError);
      this.contactSaved = el("div", "sd-contact-saved");
      this.contactSaved.setAttribute("role", "status");
      this.contactSaved.hidden = true;
      this.handoffBox.appendChild(this.availability);
      this.handoffBox.appendChild(this.contactForm);
      this.handoffBox.appendChild(this.contactSaved);

      var composer = el("form", "sd-composer");
      this.input = el("textarea", "sd-input");
      this.input.rows = 1;
      this.input.placeholder = t.placeholder;
      this.input.setAttribute("aria-label", t.placeholder);
      this.counter = el("span", "sd-counter", "");
      this.sendButton = button("sd-send", t.send, t.send);
      this.sendButton.type = "submit";
      composer.appendChild(this.input);
      composer.appendChild(this.counter);
      composer.appendChild(this.sendButton);
      this.composer = composer;

      panel.appendChild(header);
      panel.appendChild(this.list);
      panel.appendChild(this.notice);
      panel.appendChild(this.csat);
      panel.appendChild(this.handoffBox);
      panel.appendChild(this.chips);
      panel.appendChild(composer);
      host.appendChild(this.launcher);
      host.appendChild(panel);
      root.appendChild(host);
      this.setOpen(!!opts.page);
    }

    View.prototype.setOpen = function (open) {
      this.host.classList.toggle("sd-open", open);
      this.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    };

    View.prototype.setQuickQuestions = function (questions) {
      var self = this;
      this.chips.textContent = "";
      questions.forEach(function (q) {
        if (typeof q !== "string" || !q) return;
        var chip = button("sd-chip", q);
        chip.addEventListener("click", function () {
          if (self.onChip) self.onChip(q);
        });
        self.chips.appendChild(chip);
      });
    };

    View.prototype.showNotice = function (text, kind) {
      this.notice.textContent = text || "";
      this.notice.hidden = !text;
      this.notice.className = "sd-notice" + (kind ? " sd-notice-" + kind : "");
    };

    View.prototype.scroll = function () {
      this.list.scrollTop = this.list.scrollHeight;
    };

    View.prototype.bubble = function (role, agentName) {
      var kind = { customer: "sd-me", system: "sd-system", agent: "sd-agent" }[role] || "sd-bot";
      var node = el("div", "sd-msg " + kind);
      node.setAttribute("data-role", role);
      if (role === "agent") {
        // The shopper should see at a glance that a person, not the bot, wrote this.
        var label = el("div", "sd-agent-label", this.t.agent);
        if (agentName) label.appendChild(el("span", "sd-agent-name", agentName));
        node.appendChild(label);
      }
      node.appendChild(el("div", "sd-text"));
      this.list.appendChild(node);
      this.scroll();
      return node;
    };

    View.prototype.setText = function (node, text, rich) {
      var box = node.querySelector(".sd-text");
      if (rich) renderRich(box, text);
      else box.textContent = text;
    };

    // --- the chat: connection, outbox, streaming ------------------------------------------------------

    function Chat(opts) {
      var self = this;
      this.opts = opts;
      this.slug = opts.store;
      this.store = makeStorage("shopdesk:" + SERVER + ":" + this.slug + ":");
      this.verifiedMode = !!(opts.customer && opts.sig);
      this.socket = new C.Socket({
        url: function () { return self.url(); },
        onFrame: function (frame) { self.onFrame(frame); },
        onClose: function () {
          self.view.status.textContent = self.t.offline;
          self.view.host.classList.add("sd-offline");
        }
      });
      this.lastSeen = 0;
      this.helloCount = 0;
      this.status = "bot";
      this.availability = {}; // agents, contactNeeded, hours: as the server last told them
      this.contact = ""; // what the shopper left for the open ticket
      this.streams = {}; // job -> {node, shown, target, final, messageId, partial}
      this.ticking = false;
    }

    Chat.prototype.mount = function (config) {
      var self = this;
      this.config = config;
      this.lang = pickLang(this.opts.lang, config.theme);
      this.t = I18N[this.lang];
      var hostEl = this.opts.container || document.createElement("div");
      if (!this.opts.container) {
        hostEl.id = "shopdesk-widget-" + this.slug;
        document.body.appendChild(hostEl);
      }
      hostEl.setAttribute("data-shopdesk", this.slug);
      var root = hostEl.attachShadow ? hostEl.attachShadow({ mode: "open" }) : hostEl;
      var link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = CSS_URL;
      root.appendChild(link);
      var view = new View(root, config, this.lang, { page: !!this.opts.page });
      this.view = view;
      this.hostEl = hostEl;

      view.onChip = function (q) { self.send(q); };
      view.launcher.addEventListener("click", function () { self.open(); });
      view.minButton.addEventListener("click", function () {
        view.setOpen(false);
        self.store.set("open", null);
      });
      view.handoffButton.addEventListener("click", function () { self.frame({ type: "handoff" }); });
      view.endButton.addEventListener("click", function () {
        if (self.status === "closed") return;
        if (window.confirm(self.t.confirmEnd)) self.frame({ type: "close" });
      });
      view.composer.addEventListener("submit", function (e) {
        e.preventDefault();
        self.submitInput();
      });
      view.input.addEventListener("keydown", function (e) {
        if (C.isSendKey(e)) {
          e.preventDefault();
          self.submitInput();
        }
      });
      view.input.addEventListener("input", function () { self.updateCounter(); });
      view.contactForm.addEventListener("submit", function (e) {
        e.preventDefault();
        self.submitContact();
      });
      window.addEventListener("online", function () { self.reconnectNow(); });

      if (config.origin_allowed === false) {
        view.showNotice(this.t.blocked, "error");
        view.status.textContent = this.t.blocked;
        view.composer.hidden = true;
        view.chips.hidden = true;
        // Nothing that cannot work is offered; the shop owner learns in the console what to allow.
        view.handoffButton.hidden = true;
        view.endButton.hidden = true;
        if (window.console) {
          console.warn("ShopDesk: this page's origin " + window.location.origin + " may not use the chat of store \"" +
            this.slug + "\"; add it to the store's allowed origins (允许嵌入的网站) in the back office.");
        }
        this.blocked = true;
        return;
      }
      this.renderOutbox();
      if (this.opts.page || this.store.get("open") || this.outbox().length) this.open();
    };

    Chat.prototype.open = function () {
      this.view.setOpen(true);
      if (!this.opts.page) this.store.set("open", "1");
      if (!this.socket.ws && !this.blocked) this.socket.connect();
      var input = this.view.input;
      setTimeout(function () { input.focus(); }, 0);
    };

    Chat.prototype.url = function () {
      var params = new URLSearchParams();
      if (this.verifiedMode) {
        params.set("customer", this.opts.customer);
        params.set("sig", this.opts.sig);
      } else {
        var token = this.store.get("visitor");
        if (token) params.set("visitor", token);
      }
      params.set("lang", this.lang);
      if (this.opts.product) params.set("product", this.opts.product);
      // The chat on screen, also when it has ended: a reload shows it as it ended, not an empty chat.
      var conversation = this.store.get("conversation");
      if (conversation) params.set("conversation", conversation);
      return SERVER.replace(/^http/, "ws") + "/ws/chat/" + encodeURIComponent(this.slug) + "/?" + params.toString();
    };

    Chat.prototype.reconnectNow = function () {
      if (this.blocked || !this.view.host.classList.contains("sd-open")) return;
      this.socket.reconnectNow();
    };

    Chat.prototype.frame = function (obj) {
      return this.socket.send(obj);
    };

    /* The shopper is on another product's page now: the next connection says so, an open one is told. */
    Chat.prototype.viewProduct = function (sku) {
      this.opts.product = String(sku || "").slice(0, 64);
      if (this.socket.ws && this.socket.ws.readyState === 1) this.frame({ type: "view", product: this.opts.product });
    };

    // --- outbox: every message is kept until the server acknowledged it -----------------------------

    Chat.prototype.outbox = function () {
      var items = C.parseJson(this.store.get("outbox") || "[]", []);
      return Array.isArray(items) ? items : [];
    };

    Chat.prototype.saveOutbox = function (items) {
      this.store.set("outbox", items.length ? JSON.stringify(items) : null);
    };

    Chat.prototype.renderOutbox = function () {
      var self = this;
      this.outbox().forEach(function (item) {
        if (!self.view.byClient[item.client_id]) self.customerBubble(item.text, item.client_id, null, true);
      });
    };

    Chat.prototype.customerBubble = function (text, clientId, id, pending) {
      var node = this.view.bubble("customer");
      this.view.setText(node, text, false);
      if (clientId) {
        node.setAttribute("data-client-id", clientId);
        this.view.byClient[clientId] = node;
      }
      if (id) this.setId(node, id);
      if (pending) node.classList.add("sd-pending");
      return node;
    };

    Chat.prototype.setId = function (node, id) {
      node.setAttribute("data-id", String(id));
      this.view.byId[id] = node;
      if (id > this.lastSeen) this.lastSeen = id;
    };

    Chat.prototype.updateCounter = function () {
      var n = this.view.input.value.length;
      this.view.counter.textContent = n > MAX_CHARS * 0.8 ? n + "/" + MAX_CHARS : "";
      this.view.counter.classList.toggle("sd-over", n > MAX_CHARS);
    };

    Chat.prototype.submitInput = function () {
      var text = this.view.input.value.trim();
      if (!text) return;
      if (text.length > MAX_CHARS) {
        this.view.showNotice(fill(this.t.tooLong, { max: MAX_CHARS, n: text.length }), "error");
        return;
      }
      if (this.send(text)) {
        this.view.input.value = "";
        this.updateCounter();
      }
    };

    /* A message carries the product page it was typed on: two tabs on two products each ask about their own. */
    Chat.prototype.messageFrame = function (item) {
      var frame = { type: "message", text: item.text, client_id: item.client_id };
      if (item.product) frame.product = item.product;
      return frame;
    };

    Chat.prototype.send = function (text) {
      if (this.status === "closed" || this.blocked) return false;
      var item = { client_id: C.newClientId("w-"), text: text, product: this.opts.product || "" };
      var items = this.outbox();
      items.push(item);
      this.saveOutbox(items);
      this.customerBubble(text, item.client_id, null, true);
      this.view.showNotice("");
      if (!this.socket.ws) this.open();
      this.frame(this.messageFrame(item));
      return true;
    };

    /* After a reconnect (`reconnected`), a message re-sent MAX_RESENDS times without an answer is one the
     * server cannot take (it fails before it can refuse it): it is shown as not sent instead of being
     * re-sent after every reconnect for ever. */
    Chat.prototype.flushOutbox = function (reconnected) {
      var self = this;
      var items = this.outbox();
      items.forEach(function (item) {
        if (reconnected) item.tries = (item.tries || 0) + 1;
        if (item.tries > MAX_RESENDS) {
          self.markFailed(item.client_id);
          return;
        }
        self.frame(self.messageFrame(item));
      });
      this.saveOutbox(items.filter(function (item) { return !(item.tries > MAX_RESENDS); }));
    };

    Chat.prototype.dropFromOutbox = function (clientId) {
      this.saveOutbox(this.outbox().filter(function (item) { return item.client_id !== clientId; }));
    };

    // --- frames from the server ------------------------------------------------------------------------

    Chat.prototype.onFrame = function (f) {
      var handler = this["on_" + f.type];
      if (typeof handler === "function") handler.call(this, f);
    };

    Chat.prototype.on_hello = function (f) {
      this.socket.greeted();
      this.helloCount += 1;
      this.view.host.classList.remove("sd-offline");
      if (!this.verifiedMode && f.visitor) this.store.set("visitor", f.visitor);
      if (this.conversation && this.conversation !== f.conversation) this.resetList();
      this.conversation = f.conversation;
      this.store.set("conversation", String(f.conversation));
      if (f.store) {
        if (f.store.quick_questions) this.view.setQuickQuestions(f.store.quick_questions);
      }
      this.addMessages(f.messages || []);
      // Messages still waiting to be sent stay below the history they follow.
      var list = this.view.list;
      Array.prototype.slice.call(list.querySelectorAll(".sd-pending")).forEach(function (n) { list.appendChild(n); });
      this.contact = "";
      this.setStatus(f.status, f);
      if (f.status === "closed" && f.rated) this.on_csat_saved();
      this.view.showNotice("");
      // Anything we missed while away (the hello holds only the latest 50), then what is still unsent.
      this.frame({ type: "sync", after: this.lastSeen });
      this.flushOutbox(true);
    };

    Chat.prototype.on_sync = function (f) {
      this.addMessages(f.messages || []);
    };

    Chat.prototype.on_message = function (f) {
      if (f.message) this.addMessages([f.message]);
    };

    Chat.prototype.addMessages = function (messages) {
      var self = this;
      messages.forEach(function (m) {
        if (self.view.byId[m.id]) return;
        if (m.role === "customer") {
          var mine = m.client_id && self.view.byClient[m.client_id];
          if (mine) {
            mine.classList.remove("sd-pending");
            self.setId(mine, m.id);
            self.dropFromOutbox(m.client_id);
          } else {
            self.customerBubble(m.text, m.client_id, m.id, false);
          }
          return;
        }
        var stream = m.job && self.streams[m.job];
        if (stream) {
          self.finishStream(m.job, { message_id: m.id, text: m.text, partial: m.partial, source: m.source });
          return;
        }
        var node = self.view.bubble(m.role, m.role === "agent" ? m.agent_name : "");
        self.view.setText(node, m.text, m.role !== "customer");
        self.setId(node, m.id);
        node.setAttribute("data-final", "1");
        if (m.partial) node.appendChild(el("div", "sd-meta", self.t.partial));
        if (m.role === "bot") self.addThumbs(node, m.id, m.feedback);
      });
    };

    Chat.prototype.on_ack = function (f) {
      var node = f.client_id && this.view.byClient[f.client_id];
      if (node) {
        node.classList.remove("sd-pending", "sd-failed");
        this.setId(node, f.message_id);
      }
      if (f.client_id) this.dropFromOutbox(f.client_id);
    };

    Chat.prototype.on_error = function (f) {
      var self = this;
      if (f.code === "invalid_contact") {
        // The typed value stays in the field so the shopper can correct it.
        this.showContactError(f.message || this.t.contactInvalid);
        this.view.contactInput.focus();
        return;
      }
      if (f.code === "rate_limited") {
        this.view.showNotice(f.message || this.t.rateLimited, "warn");
        clearTimeout(this.floodTimer);
        this.floodTimer = setTimeout(function () { self.flushOutbox(); }, 5000);
        return;
      }
      if (f.client_id) this.markFailed(f.client_id);
      this.view.showNotice(f.message || "", "error");
    };

    /* The server refused this message (or cannot take it): it stays on screen marked not sent, and is
     * never sent again by itself. */
    Chat.prototype.markFailed = function (clientId) {
      var node = this.view.byClient[clientId];
      if (node && !node.classList.contains("sd-failed")) {
        node.classList.remove("sd-pending");
        node.classList.add("sd-failed");
        node.appendChild(el("div", "sd-meta", this.t.failed));
      }
      this.dropFromOutbox(clientId);
    };

    Chat.prototype.on_status = function (f) {
      this.setStatus(f.status, f);
    };

    Chat.prototype.on_queued = function () {};
    Chat.prototype.on_pong = function () {};

    Chat.prototype.setStatus = function (status, info) {
      this.status = status || "bot";
      this.view.host.setAttribute("data-status", this.status);
      this.view.status.textContent = this.t[this.status] || this.t.bot;
      var closed = this.status === "closed";
      this.view.composer.hidden = closed;
      this.view.chips.hidden = closed;
      this.view.handoffButton.hidden = this.status !== "bot";
      this.view.endButton.hidden = closed;
      if (closed) this.showCsat();
      this.updateAvailability(info || {});
    };

    /* The final frame of a handoff says only "waiting"; the status frame after it says who is around.
     * What a frame leaves out is kept from the last frame that said it. */
    Chat.prototype.updateAvailability = function (info) {
      var known = this.availability;
      if (typeof info.agents === "string") known.agents = info.agents;
      if (typeof info.contact_needed === "boolean") known.contactNeeded = info.contact_needed;
      if (typeof info.hours === "string") known.hours = info.hours;
      if (typeof info.contact === "string") this.contact = info.contact;
      // Back with the bot or closed: the ticket the contact was left for is done.
      if (this.status === "bot" || this.status === "closed") this.contact = "";
      this.renderHandoff();
    };

    Chat.prototype.renderHandoff = function () {
      var view = this.view;
      var t = this.t;
      var known = this.availability;
      var waiting = this.status === "waiting";
      var why = "";
      if (waiting && known.agents === "after_hours") {
        why = known.hours ? fill(t.afterHours, { hours: known.hours }) : t.afterHoursPlain;
      } else if (waiting && known.agents === "offline") {
        why = t.agentsOffline;
      }
      view.availability.textContent = why;
      view.availability.hidden = !why;
      var saved = waiting && !!this.contact;
      var asking = waiting && !saved && !!known.contactNeeded;
      view.contactForm.hidden = !asking;
      view.contactSaved.hidden = !saved;
      view.contactSaved.textContent = saved ? fill(t.contactSaved, { value: this.contact }) : "";
      if (!asking) this.showContactError("");
      view.handoffBox.hidden = !(why || asking || saved);
    };

    Chat.prototype.showContactError = function (text) {
      this.view.contactError.textContent = text || "";
      this.view.contactError.hidden = !text;
    };

    Chat.prototype.submitContact = function () {
      var value = this.view.contactInput.value.trim();
      if (!value) {
        this.view.contactInput.focus();
        return;
      }
      this.showContactError("");
      if (!this.frame({ type: "contact", value: value })) this.showContactError(this.t.contactOffline);
    };

    Chat.prototype.on_contact_saved = function (f) {
      this.contact = typeof f.value === "string" && f.value ? f.value : this.view.contactInput.value.trim();
      this.view.contactInput.value = "";
      this.renderHandoff();
    };

    Chat.prototype.stream = function (job) {
      var s = this.streams[job];
      if (!s) {
        var node = this.view.bubble("bot");
        node.setAttribute("data-job", job);
        s = { node: node, shown: "", target: "", final: null };
        this.streams[job] = s;
      }
      return s;
    };

    Chat.prototype.on_delta = function (f) {
      var s = this.stream(f.job);
      if (s.final) return;
      s.target += f.text || "";
      this.tick();
    };

    Chat.prototype.on_final = function (f) {
      this.finishStream(f.job, f);
      if (f.status) this.setStatus(f.status);
    };

    Chat.prototype.finishStream = function (job, f) {
      var s = this.stream(job);
      s.final = f;
      s.target = f.text || "";
      if (f.message_id) this.setId(s.node, f.message_id);
      this.tick();
    };

    /* The typewriter: the shown text catches up with what has arrived, a few characters a frame
     * (faster the further behind it is); a finished answer is marked data-final once fully shown. */
    Chat.prototype.tick = function () {
      var self = this;
      if (this.ticking) return;
      this.ticking = true;
      var raf = window.requestAnimationFrame || function (cb) { return setTimeout(cb, 16); };
      raf(function step() {
        var busy = false;
        Object.keys(self.streams).forEach(function (job) {
          var s = self.streams[job];
          if (s.shown !== s.target) {
            if (s.target.indexOf(s.shown) === 0 && !document.hidden) {
              var remaining = s.target.length - s.shown.length;
              s.shown = s.target.slice(0, s.shown.length + Math.max(1, Math.ceil(remaining / 12)));
            } else {
              s.shown = s.target;
            }
            self.view.setText(s.node, s.shown, true);
            self.view.scroll();
          }
          if (s.shown !== s.target) busy = true;
          else if (s.final) self.completeStream(job, s);
        });
        if (busy) raf(step);
        else self.ticking = false;
      });
    };

    Chat.prototype.completeStream = function (job, s) {
      delete this.streams[job];
      var f = s.final;
      s.node.setAttribute("data-final", "1");
      s.node.setAttribute("data-source", f.source || "");
      if (f.partial) s.node.appendChild(el("div", "sd-meta", this.t.partial));
      if (f.message_id) this.addThumbs(s.node, f.message_id, "");
    };

    Chat.prototype.addThumbs = function (node, messageId, current) {
      var self = this;
      var bar = el("div", "sd-feedback");
      var up = button("sd-thumb", "", this.t.helpful);
      var down = button("sd-thumb", "", this.t.notHelpful);
      up.appendChild(icon("up"));
      down.appendChild(icon("down"));
      up.setAttribute("data-value", "up");
      down.setAttribute("data-value", "down");
      bar.appendChild(up);
      bar.appendChild(down);
      node.appendChild(bar);
      function mark(value) {
        up.classList.toggle("sd-active", value === "up");
        down.classList.toggle("sd-active", value === "down");
        up.setAttribute("aria-pressed", value === "up" ? "true" : "false");
        down.setAttribute("aria-pressed", value === "down" ? "true" : "false");
      }
      mark(current);
      up.addEventListener("click", function () {
        if (self.frame({ type: "feedback", message_id: messageId, value: "up", comment: "" })) mark("up");
      });
      down.addEventListener("click", function () {
        if (!self.frame({ type: "feedback", message_id: messageId, value: "down", comment: "" })) return;
        mark("down");
        if (bar.querySelector(".sd-comment")) return;
        var form = el("form", "sd-comment");
        var input = el("input", "sd-comment-input");
        input.maxLength = MAX_CHARS;
        input.placeholder = self.t.commentPlaceholder;
        var submit = button("sd-comment-send", self.t.commentSend);
        submit.type = "submit";
        form.appendChild(input);
        form.appendChild(submit);
        form.addEventListener("submit", function (e) {
          e.preventDefault();
          if (self.frame({ type: "feedback", message_id: messageId, value: "down", comment: input.value })) {
            form.replaceWith(el("span", "sd-meta", self.t.thanks));
          }
        });
        bar.appendChild(form);
        input.focus();
      });
    };

    Chat.prototype.on_feedback_saved = function () {};

    Chat.prototype.showCsat = function () {
      var self = this;
      var box = this.view.csat;
      if (!box.hidden) return;
      box.textContent = "";
      box.hidden = false;
      box.appendChild(el("div", "sd-csat-title", this.t.rateTitle));
      var stars = el("div", "sd-stars");
      var chosen = 0;
      var buttons = [];
      [1, 2, 3, 4, 5].forEach(function (score) {
        var b = button("sd-star", "★", String(score));
        b.setAttribute("data-score", String(score));
        b.addEventListener("click", function () {
          chosen = score;
          buttons.forEach(function (other, i) { other.classList.toggle("sd-active", i < score); });
        });
        buttons.push(b);
        stars.appendChild(b);
      });
      var comment = el("input", "sd-csat-comment");
      comment.maxLength = MAX_CHARS;
      comment.placeholder = this.t.rateComment;
      var submit = button("sd-csat-submit", this.t.rateSubmit);
      submit.addEventListener("click", function () {
        if (chosen) self.frame({ type: "csat", score: chosen, comment: comment.value });
      });
      var again = button("sd-new", this.t.newChat);
      again.addEventListener("click", function () { self.restart(); });
      box.appendChild(stars);
      box.appendChild(comment);
      box.appendChild(submit);
      box.appendChild(again);
    };

    Chat.prototype.on_csat_saved = function () {
      var box = this.view.csat;
      var again = box.querySelector(".sd-new");
      box.textContent = "";
      box.appendChild(el("div", "sd-csat-title", this.t.rateThanks));
      if (again) box.appendChild(again);
    };

    Chat.prototype.resetList = function () {
      var view = this.view;
      Array.prototype.slice.call(view.list.querySelectorAll(".sd-msg:not(.sd-welcome)")).forEach(function (n) {
        n.remove();
      });
      view.byId = {};
      view.byClient = {};
      this.streams = {};
      this.lastSeen = 0;
      view.csat.hidden = true;
      view.csat.textContent = "";
      this.availability = {};
      this.contact = "";
      view.contactInput.value = "";
      this.renderHandoff();
      this.renderOutbox();
    };

    /* A new conversation after the last one ended: reconnect; the server opens a fresh one. */
    Chat.prototype.restart = function () {
      this.resetList();
      this.conversation = null;
      this.store.set("conversation", null);
      this.status = "bot";
      this.socket.reopen();
    };

    // --- start ----------------------------------------------------------------------------------------------

    function loadConfig(slug) {
      // The chat page and the demo shop put the config in the page; a shop's page asks the server.
      var inline = C.readJsonScript("shopdesk-config-" + slug, null);
      if (inline) return Promise.resolve(inline);
      var url = SERVER + "/chat/" + encodeURIComponent(slug) + "/config.json";
      return fetch(url, { credentials: "omit" })
        .then(function (r) { return r.ok ? r.json() : {}; })
        .catch(function () { return {}; });
    }

    var chats = [];

    function viewProduct(sku) {
      chats.forEach(function (chat) { chat.viewProduct(sku); });
    }

    function mount(opts) {
      var chat = new Chat(opts);
      chats.push(chat);
      return loadConfig(opts.store).then(function (config) {
        chat.mount(config || {});
        return chat;
      });
    }

    /* A panel that only shows a configuration (the admin's live preview): no connection. */
    function preview(container, config, lang) {
      container.textContent = "";
      var root = container.shadowRoot || (container.attachShadow ? container.attachShadow({ mode: "open" }) : container);
      root.textContent = "";
      var link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = CSS_URL;
      root.appendChild(link);
      var view = new View(root, config, pickLang(lang, config.theme), { page: false, preview: true });
      view.host.classList.add("sd-preview");
      view.setOpen(true);
      view.status.textContent = view.t.bot;
      var sample = view.bubble("bot");
      sample.setAttribute("data-final", "1");
      view.setText(sample, config.sample || "", true);
      if (!config.sample) sample.remove();
      return view;
    }

    window.ShopDeskWidget = { mount: mount, preview: preview, renderRich: renderRich, viewProduct: viewProduct };

    if (SCRIPT && SCRIPT.getAttribute("data-store")) {
      var opts = {
        store: SCRIPT.getAttribute("data-store"),
        customer: SCRIPT.getAttribute("data-customer") || "",
        sig: SCRIPT.getAttribute("data-sig") || "",
        lang: SCRIPT.getAttribute("data-lang") || "",
        product: SCRIPT.getAttribute("data-product") || "",
        page: SCRIPT.getAttribute("data-mode") === "page",
        container: null
      };
      var containerId = SCRIPT.getAttribute("data-container");
      C.whenReady(function () {
        if (containerId) opts.container = document.getElementById(containerId);
        mount(opts);
      });
    }
  }

  /* A shop embeds this one tag, so common.js comes from next to it (the same server, the same static
   * folder) unless the page has it already: our own pages load it first, and a second widget on the
   * page waits for the tag the first one added. */
  function withCommon(run) {
    if (window.ShopDeskCommon) {
      run(window.ShopDeskCommon);
      return;
    }
    var tag = document.querySelector("script[data-shopdesk-common]");
    if (!tag) {
      tag = document.createElement("script");
      tag.src = new URL("common.js", BASE).href;
      tag.setAttribute("data-shopdesk-common", "");
      (document.head || document.documentElement).appendChild(tag);
    }
    tag.addEventListener("load", function () { run(window.ShopDeskCommon); });
    // Blocked (a content security policy that allows only widget.js, an ad blocker): say why there is no chat.
    tag.addEventListener("error", function () {
      if (window.console) console.error("ShopDesk: could not load " + tag.src + "; the chat widget stays off.");
    });
  }

  withCommon(widget);
})();
