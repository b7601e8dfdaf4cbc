// Small enhancements; every page works without them.
(function () {
  "use strict";

  // Variant picker: show the price and availability of the chosen options.
  var form = document.querySelector("form.add[data-variants]");
  if (form) {
    var variants = [];
    try { variants = JSON.parse(form.getAttribute("data-variants") || "[]"); } catch (e) { variants = []; }
    var selects = form.querySelectorAll("select[data-option]");
    var price = document.querySelector("[data-price]");
    var compare = document.querySelector("[data-compare-at]");
    var availability = document.querySelector("[data-availability]");
    var update = function () {
      var chosen = Array.prototype.map.call(selects, function (s) { return s.value; });
      var match = variants.filter(function (v) { return v.options.join("\u0000") === chosen.join("\u0000"); })[0];
      if (!match) { return; }
      if (price) { price.textContent = match.price; }
      if (compare) { compare.textContent = match.compare_at || ""; }
      if (availability) {
        availability.textContent = availability.getAttribute(match.available ? "data-in" : "data-out");
      }
    };
    Array.prototype.forEach.call(selects, function (s) { s.addEventListener("change", update); });
  }

  // Search suggestions as the customer types, into the input's datalist.
  var input = document.querySelector("input[data-suggest]");
  var list = document.getElementById("suggestions");
  if (input && list && window.fetch) {
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) { return; }
      timer = setTimeout(function () {
        fetch(input.getAttribute("data-suggest") + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (items) {
            list.textContent = "";
            items.forEach(function (item) {
              var option = document.createElement("option");
              option.value = item.name;
              list.appendChild(option);
            });
          })
          .catch(function () { /* suggestions are optional */ });
      }, 150);
    });
  }
})();
