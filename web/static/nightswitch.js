/* Nightswitch: progressive enhancement only. Every action works without this file
   (plain forms, server-side confirmation); with it the status page follows the appliance
   live, long overrides ask in a dialog, the schedule preview follows the form as it is
   typed, and the simulated front panel answers without reloading the page. */
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  // The page scripts that load after this one (schedule.js) use the same token reader.
  window.nightswitch = { csrf: csrf };

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
  }

  /* Confirmation of long overrides, deletions, restores. The server asks too when
     this script is absent; confirm=1 tells it the question was answered here. */
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-confirm]") : null;
    if (!el || el.disabled) { return; }
    if (!window.confirm(el.getAttribute("data-confirm"))) { ev.preventDefault(); return; }
    var form = el.form;
    if (form && !form.querySelector('input[name="confirm"]')) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "confirm"; input.value = "1";
      form.appendChild(input);
    }
  });

  document.addEventListener("change", function (ev) {
    if (ev.target.hasAttribute && ev.target.hasAttribute("data-autosubmit")) { ev.target.form.submit(); }
  });

  /* Live status: server-sent events say something changed; the server renders it. */
  function initLive() {
    var live = document.getElementById("live");
    if (!live) { return; }
    var busy = false, again = false, poller = null;
    /* An error of the override form (data-hold), or an end typed or chosen in it, stays
       until the person acts: submits again or dismisses it (issue 16). */
    function holding() {
      if (live.querySelector("[data-hold]")) { return true; }
      return Array.prototype.some.call(
        live.querySelectorAll(".until-time input:not([type=hidden])"),
        function (input) { return input.value !== ""; });
    }
    function swap(html) {
      if (!holding()) { live.innerHTML = html; }
      else {
        /* Keep the form as the person left it; refresh the parts marked data-live-part. */
        var tmp = document.createElement("div");
        tmp.innerHTML = html;
        live.querySelectorAll("[data-live-part]").forEach(function (a) {
          var b = tmp.querySelector('[data-live-part="' + a.getAttribute("data-live-part") + '"]');
          if (b) { a.replaceWith(b); }
        });
        var fs = live.querySelector("#override-section fieldset");
        var nfs = tmp.querySelector("#override-section fieldset");
        if (fs && nfs) { fs.disabled = nfs.disabled; }
      }
      var mode = live.querySelector("#mode");
      if (mode) { document.title = document.title.replace(/^[^\u2013]*\u2013/, mode.textContent + " \u2013"); }
      live.setAttribute("data-updated", String(Date.now()));
    }
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      get(live.getAttribute("data-live-url")).then(function (r) {
        return r.ok ? r.text().then(swap) : null;
      }).catch(function () {}).then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
    }
    function connect() {
      if (!window.EventSource) { poller = poller || setInterval(refresh, 5000); return; }
      var es = new EventSource(live.getAttribute("data-events-url"));
      /* data-stream says whether the page is live (tests and curious installers read it). */
      es.addEventListener("open", function () { live.setAttribute("data-stream", "open"); });
      es.addEventListener("status", function (ev) {
        try {
          if (JSON.parse(ev.data).zone === live.getAttribute("data-zone")) { refresh(); }
        } catch (e) { /* a malformed event: wait for the next one */ }
      });
      es.addEventListener("error", function () {
        live.setAttribute("data-stream", es.readyState === EventSource.CLOSED ? "polling"
                                                                               : "reconnecting");
        if (es.readyState === EventSource.CLOSED) {
          /* Refused (too many live pages): poll, and try the stream again later. */
          if (!poller) { poller = setInterval(refresh, 5000); }
          setTimeout(function () { clearInterval(poller); poller = null; connect(); }, 60000);
        }
      });
    }
    connect();
    /* The "for 1 hour" buttons state a clock time: keep it current. */
    setInterval(refresh, 60000);
  }

  /* Schedule editor: preview the unsaved form as it changes. */
  function initSchedule() {
    var form = document.getElementById("schedule-form");
    if (!form) { return; }
    var timer = null, seq = 0;
    function update() {
      var mine = ++seq;
      var data = new FormData(form);
      data.delete("action");
      /* The preview's own From and To (outside the form) choose its range. */
      document.querySelectorAll("[data-preview-range]").forEach(function (input) {
        data.set(input.name, input.value);
        var hidden = form.querySelector('input[type="hidden"][name="' + input.name + '"]');
        if (hidden) { hidden.value = input.value; }
      });
      fetch(form.getAttribute("data-preview-url"), {
        method: "POST", credentials: "same-origin", body: new URLSearchParams(data),
        headers: { "X-CSRF-Token": csrf(), "X-Requested-With": "fetch" }
      }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html === null || mine !== seq) { return; }
        var wrap = document.getElementById("preview-wrap");
        if (wrap) { wrap.innerHTML = html; wrap.setAttribute("data-updated", String(Date.now())); }
      }).catch(function () {});
    }
    function later(ms) { clearTimeout(timer); timer = setTimeout(update, ms); }
    /* An admin's unsaved edits must survive a change of the preview's range: the range
       form then redraws the preview in place instead of reloading the page. */
    var editable = form.querySelector("fieldset.plain:not([disabled])");
    document.addEventListener("submit", function (ev) {
      if (editable && ev.target && ev.target.id === "preview-range") {
        ev.preventDefault();
        update();
      }
    });
    form.addEventListener("input", function () { later(350); });
    form.addEventListener("change", function () { later(80); });
    var country = form.querySelector("[data-country]");
    var sub = form.querySelector("[data-subdivision]");
    if (country && sub) {
      country.addEventListener("change", function () {
        get(form.getAttribute("data-subdivisions-url") + "?country=" + encodeURIComponent(country.value))
          .then(function (r) { return r.json(); })
          .then(function (data) {
            while (sub.options.length > 1) { sub.remove(1); }
            data.subdivisions.forEach(function (pair) { sub.add(new Option(pair[1], pair[0])); });
            update();
          }).catch(function () {});
      });
    }
  }

  /* The simulated front panel: turn the key and move the clock without a reload. */
  function initPanel() {
    if (!document.getElementById("vpanel")) { return; }
    var shown = null;
    function showError() {
      var box = document.querySelector("#vpanel [data-vp-error]");
      if (!box) { return; }
      box.textContent = shown || "";
      box.hidden = !shown;
    }
    showError();
    function refresh() {
      var panel = document.getElementById("vpanel");
      if (!panel || document.hidden) { return; }
      var active = document.activeElement;
      if (active && panel.contains(active) && (active.tagName === "INPUT" || active.tagName === "SELECT")) { return; }
      get(panel.getAttribute("data-fragment")).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        var current = document.getElementById("vpanel");
        if (html && current) { current.outerHTML = html; showError(); }
      }).catch(function () {});
    }
    document.addEventListener("submit", function (ev) {
      var form = ev.target, panel = document.getElementById("vpanel");
      var kind = form.getAttribute("data-sim");
      if (!kind || !panel || !panel.contains(form)) { return; }
      ev.preventDefault();
      var button = ev.submitter, body, api = "data-clock-api";
      if (kind === "key") { body = { position: button ? button.value : "" }; api = "data-key-api"; }
      else if (kind === "pbx") {
        /* The simulated PBX: a mode, a fault ("part:fault") or clear. */
        api = "data-pbx-api";
        var choice = (form.querySelector('select[name="fault"]') || {}).value || "";
        if (button && button.name === "mode") { body = { mode: button.value }; }
        else if (button && button.name === "clear") { body = { fault: "clear" }; }
        else {
          var cut = choice.lastIndexOf(":");
          body = { fault: choice.slice(cut + 1), actuator: choice.slice(0, cut) };
        }
      }
      else if (button && button.name === "advance_s") { body = { advance_s: Number(button.value) }; }
      else { body = { now: (form.querySelector('input[name="now"]') || {}).value }; }
      shown = null;
      fetch(panel.getAttribute(api), {
        method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() }
      }).then(function (r) {
        /* A refusal is said in the panel, where the person looks, until the next try. */
        if (!r.ok) { return r.json().then(function (e) { shown = e.error || ("HTTP " + r.status); }); }
      }).catch(function () { shown = "the appliance did not answer; try again"; }).then(function () {
        if (document.activeElement) { document.activeElement.blur(); }
        showError();
        refresh();
      });
    });
    setInterval(refresh, 500);
  }

  /* Installer page: the key switch as it turns (commissioning). Live updates say when
     the key moved and the server renders the contacts; when the live connections are
     all taken (or the browser has none) the part is polled instead. */
  function initKeyLive() {
    var el = document.getElementById("key-live");
    if (!el) { return; }
    var busy = false, again = false, poller = null;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      get(el.getAttribute("data-fragment")).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html !== null) { el.innerHTML = html; el.setAttribute("data-updated", String(Date.now())); }
      }).catch(function () {}).then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
    }
    function poll() {
      el.setAttribute("data-stream", "polling");
      if (!poller) { poller = setInterval(refresh, 2000); }
    }
    function connect() {
      if (!window.EventSource) { poll(); return; }
      var es = new EventSource(el.getAttribute("data-events-url"));
      es.addEventListener("open", function () { el.setAttribute("data-stream", "open"); });
      es.addEventListener("status", function (ev) {
        try {
          var st = JSON.parse(ev.data);
          if (st.zone !== el.getAttribute("data-zone")) { return; }
          var out = el.querySelector("[data-key-live]");
          if (out) { out.textContent = String(st.key).toUpperCase(); }
          refresh();
        } catch (e) { /* wait for the next event */ }
      });
      es.addEventListener("error", function () {
        if (es.readyState !== EventSource.CLOSED) { el.setAttribute("data-stream", "reconnecting"); return; }
        /* Refused (too many live pages): poll, and try the stream again later. */
        poll();
        setTimeout(function () { clearInterval(poller); poller = null; connect(); }, 60000);
      });
    }
    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    initLive();
    initKeyLive();
    initSchedule();
    initPanel();
  });
}());
