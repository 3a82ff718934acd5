/* ShopDesk: what the chat widget (widget.js) and the agent console (agent.js) share. No build step, no
 * third-party code; everything is on one global, window.ShopDeskCommon.
 *
 * The console page loads this file before agent.js. A shop embeds widget.js alone, so the widget loads
 * this file itself from next to its own URL unless the page has it already. Loaded twice, the first
 * copy stays: a page may hold both an explicit tag and the widget's own.
 *
 * Text is only ever set as textContent: this page may run with a staff session, and nothing a shopper
 * wrote is ever parsed as HTML.
 */
(function () {
  "use strict";

  if (window.ShopDeskCommon) return;

  // --- DOM, text only ------------------------------------------------------------------------------

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /* type="button": a button inside a form must never submit it by accident. */
  function button(cls, text, title) {
    var b = el("button", cls, text);
    b.type = "button";
    if (title) {
      b.title = title;
      b.setAttribute("aria-label", title);
    }
    return b;
  }

  /* Every {key} of a translated string gets its value; a key without one stays as written. One pass
   * with a replacement function, so a shopper's "$&" or "{n}" inside a value stays literal. */
  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (all, key) {
      var known = Object.prototype.hasOwnProperty.call(values, key) && values[key] !== undefined && values[key] !== null;
      return known ? String(values[key]) : all;
    });
  }

  // Enter sends, Shift+Enter is a new line; Enter that confirms an IME candidate (keyCode 229) does neither.
  function isSendKey(e) {
    return e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229;
  }

  function whenReady(start) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }

  // --- JSON --------------------------------------------------------------------------------------------

  /* Never throws: text that is not JSON, or JSON null, gives `fallback`. */
  function parseJson(text, fallback) {
    try {
      var value = JSON.parse(text);
      return value === null ? fallback : value;
    } catch (e) {
      return fallback;
    }
  }

  /* The data Django's json_script put in the page, or `fallback`. */
  function readJsonScript(id, fallback) {
    var node = document.getElementById(id);
    return node ? parseJson(node.textContent, fallback) : fallback;
  }

  /* A server frame is an object with a string `type`; anything else is null and ignored. */
  function parseFrame(data) {
    var frame = parseJson(data, null);
    return frame && typeof frame === "object" && typeof frame.type === "string" ? frame : null;
  }

  /* The sender's prefix ("w-" shopper, "a-" agent) and 18 hex digits: the server deduplicates by it. */
  function newClientId(prefix) {
    var bytes = new Uint8Array(9);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return prefix + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- the websocket -------------------------------------------------------------------------------------

  /* A websocket that comes back by itself.
   *   url()          asked on every attempt (a visitor token may have changed since the last one)
   *   onFrame(frame) each parsed frame of the current connection; malformed ones never get here
   *   onClose()      the connection was lost; a retry is already planned
   *   pingMs         optional: a {type: "ping"} frame this often while greeted
   * The caller calls greeted() once the server's hello frame is in: only then does send() send, and the
   * backoff starts again from its shortest delay. */
  function Socket(options) {
    this.options = options;
    this.ws = null; // the open or opening connection, null between attempts
    this.ready = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.reopening = false;
  }

  Socket.prototype.connect = function () {
    var self = this;
    clearTimeout(this.retryTimer);
    var ws;
    try {
      ws = new WebSocket(this.options.url());
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = function (e) {
      if (self.ws !== ws) return;
      var frame = parseFrame(e.data);
      if (frame) self.options.onFrame(frame);
    };
    ws.onclose = function () {
      if (self.ws !== ws) return;
      self.ws = null;
      self.ready = false;
      clearInterval(self.pingTimer);
      if (self.reopening) {
        self.reopening = false;
        self.connect();
        return;
      }
      if (self.options.onClose) self.options.onClose();
      self.scheduleReconnect();
    };
  };

  Socket.prototype.scheduleReconnect = function () {
    var self = this;
    // 0.5 s, 1 s, 2 s ... up to 20 s, with jitter so a restarted server is not hit by every page at once.
    var delay = Math.min(20000, 500 * Math.pow(2, this.attempt)) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(function () { self.connect(); }, delay);
  };

  /* Back online: try at once instead of waiting out the backoff. */
  Socket.prototype.reconnectNow = function () {
    if (this.ws) return;
    this.attempt = 0;
    this.connect();
  };

  /* A fresh connection right away (the server then opens a new conversation), without a lost-connection notice. */
  Socket.prototype.reopen = function () {
    if (this.ws) {
      this.reopening = true;
      this.ws.close();
    } else {
      this.connect();
    }
  };

  Socket.prototype.greeted = function () {
    var self = this;
    this.ready = true;
    this.attempt = 0;
    clearInterval(this.pingTimer);
    if (this.options.pingMs) {
      this.pingTimer = setInterval(function () { self.send({ type: "ping" }); }, this.options.pingMs);
    }
  };

  /* False when not connected: the caller keeps what it could not send. */
  Socket.prototype.send = function (frame) {
    if (this.ws && this.ready) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  };

  window.ShopDeskCommon = {
    el: el,
    button: button,
    fill: fill,
    isSendKey: isSendKey,
    whenReady: whenReady,
    parseJson: parseJson,
    readJsonScript: readJsonScript,
    parseFrame: parseFrame,
    newClientId: newClientId,
    Socket: Socket
  };
})();
