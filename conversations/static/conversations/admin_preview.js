/* The Store admin page: a live preview of the widget as staff edit its theme, and the copy button.
 * The page loads common.js and widget.js first. */
(function (C) {
  "use strict";

  function value(id) {
    var field = document.getElementById(id);
    return field ? field.value : "";
  }

  // The form's fields: quick questions one per line, the theme as separate inputs (kb/form_fields.py).
  function lines(text) {
    return text.split(/\r?\n|\|/).map(function (line) {
      return line.replace(/^[\s"'“”‘’「」]+|[\s"'“”‘’「」]+$/g, "");
    }).filter(Boolean);
  }

  var THEME_KEYS = ["color", "position", "title", "avatar", "lang"];
  var FIELDS = ["id_welcome", "id_quick_questions", "id_name", "id_assistant_name"].concat(
    THEME_KEYS.map(function (key) { return "id_theme_" + key; })
  );

  function config() {
    var theme = {};
    THEME_KEYS.forEach(function (key) { theme[key] = value("id_theme_" + key); });
    var box = document.getElementById("shopdesk-preview");
    return {
      name: value("id_name"),
      assistant_name: value("id_assistant_name"),
      welcome: value("id_welcome"),
      quick_questions: lines(value("id_quick_questions")),
      theme: theme,
      sample: "**" + ((box && box.getAttribute("data-sample")) || "") + "**"
    };
  }

  function start() {
    var box = document.getElementById("shopdesk-preview");
    if (box && window.ShopDeskWidget) {
      var render = function () { window.ShopDeskWidget.preview(box, config()); };
      FIELDS.forEach(function (id) {
        var field = document.getElementById(id);
        if (field) {
          field.addEventListener("input", render);
          field.addEventListener("change", render);
        }
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
