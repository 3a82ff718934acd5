// The demo shop's "加入购物车": records a cart for the chat widget's visitor (the shop's back end would send it).
(function () {
  "use strict";
  var button = document.querySelector("[data-demo-cart]");
  if (!button) return;
  var note = document.querySelector("[data-demo-cart-note]");

  function visitorToken() {
    try {
      for (var i = 0; i < window.localStorage.length; i++) {
        var key = window.localStorage.key(i);
        if (key && /:demo:visitor$/.test(key)) return window.localStorage.getItem(key);
      }
    } catch (e) {
      return "";
    }
    return "";
  }

  function say(text) {
    if (note) note.textContent = text;
  }

  button.addEventListener("click", function () {
    var visitor = visitorToken();
    if (!visitor) {
      say("请先打开右下角的客服窗口，购物车记在聊天访客名下。");
      return;
    }
    fetch(button.getAttribute("data-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": button.getAttribute("data-csrf") },
      body: JSON.stringify({ visitor: visitor, sku: button.getAttribute("data-sku"), quantity: 1 }),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.message || response.status);
          return body;
        });
      })
      .then(function (body) {
        say("已加入购物车（共 " + body.items + " 件）。离开一会儿再回来，客服会提醒您。");
      })
      .catch(function (error) {
        say("没能加入购物车：" + error.message);
      });
  });
})();
