/* The store page's test chat: asks the real pipeline (nothing is recorded) and shows why it answered so:
 * the source, the route, the matched FAQ entries and product rows with their scores, the guard's flags. */
(function () {
  "use strict";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function csrf() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function start() {
    var log = document.getElementById("shopdesk-try-log");
    var input = document.getElementById("shopdesk-try-question");
    var send = document.getElementById("shopdesk-try-send");
    if (!log || !input || !send) return;
    var t = log.dataset;

    function why(data) {
      var box = el("dl", "shopdesk-try-why");
      function row(label, value) {
        box.appendChild(el("dt", "", label));
        var dd = el("dd");
        if (value instanceof Node) dd.appendChild(value); else dd.textContent = value;
        box.appendChild(dd);
      }
      row(t.source, data.source);
      row(t.route, data.route + (data.handoff ? " → " + t.handoff : ""));
      var list = el("ul", "shopdesk-try-matched");
      (data.matched || []).forEach(function (m) {
        var item = el("li");
        var score = m.score === undefined ? " (" + t.keyword + ")" : " (" + t.score + " " + m.score + ")";
        var title = (m.kind || "") + " #" + m.id + " " + (m.title || "") + score;
        var link = data.links["faq_" + m.id];
        if (m.kind === "faq" && link) {
          var a = el("a", "", title);
          a.href = link;
          a.target = "_blank";
          item.appendChild(a);
        } else {
          item.textContent = title;
        }
        list.appendChild(item);
      });
      if (!list.children.length) list.appendChild(el("li", "", t.nothing));
      row(t.matched, list);
      row(t.flags, (data.flags || []).join(", ") || "-");
      if (data.ttft_ms !== null && data.ttft_ms !== undefined) row(t.ttft, data.ttft_ms + " ms");
      var make = el("a", "button shopdesk-try-make", t.make);
      make.href = data.links.faq_add;
      make.target = "_blank";
      row("", make);
      return box;
    }

    function ask() {
      var question = input.value.trim();
      if (!question) return;
      var turn = el("div", "shopdesk-try-turn");
      turn.appendChild(el("p", "shopdesk-try-q", question));
      var answer = el("p", "shopdesk-try-a", t.waiting);
      turn.appendChild(answer);
      log.appendChild(turn);
      input.value = "";
      send.disabled = true;
      fetch(t.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ question: question })
      }).then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      }).then(function (result) {
        if (!result.ok) {
          answer.textContent = result.data.message || t.failed;
          answer.className = "shopdesk-try-a errornote";
          return;
        }
        answer.textContent = result.data.answer || result.data.note;
        turn.appendChild(why(result.data));
      }).catch(function () {
        answer.textContent = t.failed;
      }).then(function () { send.disabled = false; });
    }

    send.addEventListener("click", ask);
    input.addEventListener("keydown", function (event) {
      // Enter asks; it must not submit the store's form around it.
      if (event.key === "Enter") { event.preventDefault(); ask(); }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
