/* Schedule page, progressive enhancement only (the form works without it): the holiday
   picker follows the country and region as they change, and leaving the page with edits
   that are not saved asks first. The live preview is in nightswitch.js. */
(function () {
  "use strict";

  var csrf = window.nightswitch.csrf;    // nightswitch.js, loaded first

  function initHolidays(form) {
    var box = document.getElementById("holiday-choices");
    var country = form.querySelector("[data-country]");
    var sub = form.querySelector("[data-subdivision]");
    if (!box || !country) { return; }
    var seq = 0;
    function refresh(countryChanged) {
      var mine = ++seq;
      var data = new FormData(form);
      data.delete("action");
      /* A region belongs to the country it was picked for. */
      if (countryChanged) { data.set("holidays.subdivision", ""); }
      fetch(box.getAttribute("data-url"), {
        method: "POST", credentials: "same-origin", body: new URLSearchParams(data),
        headers: { "X-CSRF-Token": csrf(), "X-Requested-With": "fetch" }
      }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html === null || mine !== seq) { return; }
        box.innerHTML = html;
        box.setAttribute("data-updated", String(Date.now()));
      }).catch(function () {});
    }
    country.addEventListener("change", function () { refresh(true); });
    if (sub) { sub.addEventListener("change", function () { refresh(false); }); }
  }

  function initLeaving(form) {
    /* Only an admin's form can hold edits (a viewer's fieldset is disabled). */
    if (!form.querySelector("fieldset.plain:not([disabled])")) { return; }
    /* After Preview or "+ Add hours" the page itself holds unsaved edits. */
    var dirty = !!document.getElementById("unsaved");
    function mark() { dirty = true; form.setAttribute("data-dirty", "true"); }
    form.addEventListener("input", mark);
    form.addEventListener("change", mark);
    if (dirty) { form.setAttribute("data-dirty", "true"); }
    /* The form's own buttons (Save, Preview, Add, Remove) carry the edits along. */
    form.addEventListener("submit", function () { dirty = false; });
    document.querySelectorAll("[data-discard]").forEach(function (link) {
      link.addEventListener("click", function () { dirty = false; });
    });
    window.addEventListener("beforeunload", function (ev) {
      if (!dirty) { return; }
      ev.preventDefault();
      ev.returnValue = "";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("schedule-form");
    if (!form) { return; }
    initHolidays(form);
    initLeaving(form);
  });
}());
