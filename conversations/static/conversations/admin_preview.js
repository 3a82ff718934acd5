/* The Store admin page: a live preview of the widget as staff edit its theme, and the copy button.
 * The page loads common.js and widget.js first. */
(function (C) {
  "use strict";

  function value(id) {
    var field = document.getElementById(id);
    return field ? field.value : "";
  }

  function config() {
    var theme = C.parseJson(value("id_theme"), {});
    var questions = C.parseJson(value("id_quick_questions"), []);
    return {
      name: value("id_name"),
      assistant_name: value("id_assistant_name"),
      welcome: value("id_welcome"),
      quick_questions: Array.isArray(questions) ? questions : [],
      theme: theme && typeof theme === "object" && !Array.isArray(theme) ? theme : {},
      sample: "**" + ((document.getElementById("shopdesk-preview") || {}).dataset || {}).sample + "**"
    };
  }

  function start() {
    var box = document.getElementById("shopdesk-preview");
    if (box && window.ShopDeskWidget) {
      var render = function () { window.ShopDeskWidget.preview(box, config()); };
      ["id_theme", "id_welcome", "id_quick_questions", "id_name", "id_assistant_name"].forEach(function (id) {
        var field = document.getElementById(id);
        if (field) field.addEventListener("input", render);
      });
      render();
    }
    var copy = document.getElementById("shopdesk-copy");
    if (copy) {
      copy.addEventListener("click", function () {
        var area = document.getElementById(copy.getAttribute("data-copy-target"));
        area.select();
        var done = function () { document.getElementById("shopdesk-copied").hidden = false; };
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(area.value).then(done);
        else if (document.execCommand("copy")) done();
      });
    }
  }

  C.whenReady(start);
})(window.ShopDeskCommon);
