// fbadmin console: the little the pages need a script for. No framework,
// no build step; every page works without it, less conveniently.
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  // Pages of a database other than the console's own live under /db/{id}.
  var rootMeta = document.querySelector('meta[name="db-root"]');
  var root = rootMeta ? rootMeta.content : "";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // Timestamps: the local time and zone beside the UTC text.
  function localTime(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return "";
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) {}
    return d.toLocaleString(undefined, { timeZoneName: "short" }) + (zone ? " (" + zone + ")" : "");
  }
  $$("[data-ts]").forEach(function (el) {
    var s = document.createElement("span");
    s.className = "local-time";
    s.textContent = localTime(el.getAttribute("data-ts"));
    el.after(s);
  });
  $$("[data-ts-input]").forEach(function (el) {
    var s = document.createElement("span");
    s.className = "local-time";
    function upd() { s.textContent = localTime(el.value); }
    el.after(s); upd(); el.addEventListener("input", upd);
  });

  // Confirmations of destructive forms.
  $$("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (e.submitter && e.submitter.getAttribute("data-testid") !== "delete-selected" && f.id === "bulk") return;
      if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
  var all = $("[data-select-all]");
  if (all) all.addEventListener("change", function () {
    $$('input[name="sel"]').forEach(function (c) { c.checked = all.checked; });
  });

  // Collection group form: /g/{id}.
  var gf = $("form[data-group-form]");
  if (gf) gf.addEventListener("submit", function (e) {
    e.preventDefault();
    location.href = root + "/g/" + encodeURIComponent($("input[name=id]", gf).value.trim());
  });

  // Query builder: another filter row.
  var add = $("[data-qb-add]");
  if (add) add.addEventListener("click", function () {
    var rows = $$("[data-testid=qb-row]");
    var last = rows[rows.length - 1];
    var n = last.cloneNode(true);
    $$("input", n).forEach(function (i) { i.value = ""; });
    last.after(n);
    $("input", n).focus();
  });

  // Document editor: another field row, with fresh indexes.
  var fadd = $("[data-field-add]");
  if (fadd) fadd.addEventListener("click", function () {
    var body = $("[data-fields]");
    var tmpl = $("[data-testid=field-row-new]", body);
    var max = -1;
    $$("[name$='.name']", body).forEach(function (i) {
      var m = /^f\.(\d+)\.name$/.exec(i.name); if (m) max = Math.max(max, +m[1]);
    });
    var n = tmpl.cloneNode(true);
    $$("[name]", n).forEach(function (i) { i.name = i.name.replace(/^f\.\d+\./, "f." + (max + 1) + "."); if (i.tagName !== "SELECT") i.value = ""; });
    body.appendChild(n);
    $("input", n).focus();
  });

  // Bytes shown as base64 or hex: switching the type converts the text.
  document.addEventListener("focusin", function (e) {
    var t = e.target;
    if (t.matches && t.matches("[data-testid=field-type]")) t.setAttribute("data-prev", t.value);
  });
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t.matches || !t.matches("[data-testid=field-type]")) return;
    var prev = t.getAttribute("data-prev"), row = t.closest("tr"), v = row && $("[data-testid=field-value]", row);
    t.setAttribute("data-prev", t.value);
    if (!v || !v.value) return;
    try {
      if (prev === "bytes" && t.value === "bytes-hex") {
        v.value = Array.prototype.map.call(atob(v.value.trim()), function (c) { return ("0" + c.charCodeAt(0).toString(16)).slice(-2); }).join("");
      } else if (prev === "bytes-hex" && t.value === "bytes") {
        var h = v.value.trim().replace(/^0x/, "").replace(/\s+/g, ""), s = "";
        for (var i = 0; i < h.length; i += 2) s += String.fromCharCode(parseInt(h.substr(i, 2), 16));
        v.value = btoa(s);
      }
    } catch (err) { /* the server says what is wrong with the text */ }
  });

  // Claims editor: say at once when the JSON does not parse.
  $$("textarea[data-json]").forEach(function (t) {
    t.addEventListener("input", function () {
      try { var v = JSON.parse(t.value || "{}"); t.setCustomValidity(v && typeof v === "object" && !Array.isArray(v) ? "" : "want a JSON object"); }
      catch (e) { t.setCustomValidity("not valid JSON: " + e.message); }
    });
  });
  // Typed confirmation: the button waits for the exact path.
  $$("input[data-expect]").forEach(function (i) {
    var b = i.form.querySelector("button[type=submit]");
    function upd() { b.disabled = i.value !== i.getAttribute("data-expect"); }
    i.addEventListener("input", upd); upd();
  });

  // The document count, by aggregation, after the page.
  // Live mode asks again (debounced) when rows arrive or leave; only the
  // latest answer is shown.
  var cnt = $("[data-testid=doc-count]"), cntSeq = 0, cntTimer = null;
  var loadCount = function () {
    if (!cnt || !cnt.getAttribute("data-src")) return;
    var seq = ++cntSeq;
    fetch(cnt.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.status); return j; }); })
      .then(function (j) { if (seq !== cntSeq) return; cnt.textContent = Number(j.count).toLocaleString(); cnt.setAttribute("data-count", j.count); cnt.setAttribute("data-state", "done"); cnt.title = ""; })
      .catch(function (e) { if (seq !== cntSeq) return; cnt.textContent = "?"; cnt.title = String(e.message || e); cnt.setAttribute("data-state", "error"); });
  };
  var recount = function () { clearTimeout(cntTimer); cntTimer = setTimeout(loadCount, 300); };
  if (cnt && cnt.getAttribute("data-src")) loadCount();
  else if (cnt) { cnt.textContent = "?"; cnt.setAttribute("data-state", "error"); }

  // Job progress.
  var job = $("[data-job-src]");
  if (job && job.getAttribute("data-state") === "running") {
    var bar = $("[data-job-bar]"), prog = $("[data-testid=job-progress]"), err = $("[data-testid=job-error]");
    var poll = function () {
      fetch(job.getAttribute("data-job-src"), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (j) {
        job.textContent = j.state; job.setAttribute("data-state", j.state);
        prog.textContent = j.done + " / " + (j.total || "?");
        bar.max = j.total || 1; bar.value = j.done;
        if (j.error) { err.textContent = j.error; err.hidden = false; }
        var dl = $("[data-job-download]"); if (dl && j.download) dl.hidden = false;
        if (j.state === "running") setTimeout(poll, 500);
      }).catch(function () { setTimeout(poll, 2000); });
    };
    setTimeout(poll, 300);
  }

  // Live mode: Server-Sent Events of the first page's changes.
  var REMOVED_MS = 1500;
  var status = $("[data-live-src]");
  var table = $("[data-testid=doc-table]");
  if (status && table) {
    var tbody = $("tbody", table);
    var fields = $$("[data-testid=col-header]", table).map(function (th) { return th.getAttribute("data-field"); });
    var rowOf = function (path) {
      return $$("[data-testid=doc-row]", tbody).filter(function (r) { return r.getAttribute("data-path") === path; })[0];
    };
    var esc = function (p) { return p.split("/").map(encodeURIComponent).join("/"); };
    var fill = function (tr, ev) {
      var cells = {};
      (ev.cells || []).forEach(function (c) { cells[c.field] = c; });
      tr.innerHTML = "";
      var td = document.createElement("td");
      var cb = document.createElement("input");
      cb.type = "checkbox"; cb.name = "sel"; cb.value = ev.path; cb.setAttribute("data-testid", "row-select"); cb.setAttribute("aria-label", "Select " + ev.id);
      td.appendChild(cb); tr.appendChild(td);
      var th = document.createElement("th"); th.scope = "row";
      var a = document.createElement("a"); a.href = root + "/d/" + esc(ev.path); a.textContent = ev.id; a.setAttribute("data-testid", "doc-link");
      th.appendChild(a); tr.appendChild(th);
      fields.forEach(function (f) {
        var c = cells[f], cell = document.createElement("td");
        cell.setAttribute("data-testid", "doc-cell"); cell.setAttribute("data-field", f);
        cell.setAttribute("data-type", c ? c.type : "missing");
        if (c && c.href) { var l = document.createElement("a"); l.href = c.href.charAt(0) === "/" ? root + c.href : c.href; l.textContent = c.text; l.setAttribute("data-testid", "ref-link"); cell.appendChild(l); }
        else if (c) cell.textContent = c.text;
        tr.appendChild(cell);
      });
      tr.setAttribute("data-update-time", ev.update_time);
    };
    var flash = function (tr, kind) {
      tr.classList.remove("live-changed"); void tr.offsetWidth;
      tr.classList.add("live-changed"); tr.setAttribute("data-change", kind);
    };
    var es = new EventSource(status.getAttribute("data-live-src"));
    es.addEventListener("open", function () { status.textContent = "live: connected"; });
    var wasReady = false;
    es.addEventListener("ready", function () { if (wasReady) recount(); wasReady = true; status.textContent = "live: following changes"; status.setAttribute("data-state", "ready"); });
    es.addEventListener("change", function (m) {
      var ev = JSON.parse(m.data);
      var tr = rowOf(ev.path);
      if (!ev.initial && ev.type !== "modified") recount();
      if (ev.type === "removed") {
        // Struck through for a moment, so that the eye catches what left,
        // then gone (the count follows at once).
        if (tr) {
          flash(tr, "removed"); tr.classList.add("live-removed");
          var cb = $("[data-testid=row-select]", tr); if (cb) { cb.checked = false; cb.disabled = true; }
          clearTimeout(tr._gone);
          tr._gone = setTimeout(function () { if (tr.classList.contains("live-removed")) tr.remove(); }, REMOVED_MS);
        }
        return;
      }
      if (tr && ev.initial && tr.getAttribute("data-update-time") === ev.update_time) return;
      if (tr) clearTimeout(tr._gone);
      var isNew = !tr;
      if (isNew) {
        tr = document.createElement("tr");
        tr.setAttribute("data-testid", "doc-row"); tr.setAttribute("data-path", ev.path);
        var empty = $("tr.empty", tbody); if (empty) empty.remove();
      }
      tr.classList.remove("live-removed");
      // Keep the query's order: the row goes to its index among the rows
      // still in the results (removed ones, struck through for a moment,
      // do not count).
      var live = $$("[data-testid=doc-row]", tbody).filter(function (r) { return r !== tr && !r.classList.contains("live-removed"); });
      var before = ev.index >= 0 && ev.index < live.length ? live[ev.index] : null;
      if (before) {
        if (tr.nextElementSibling !== before) tbody.insertBefore(tr, before);
      } else if (isNew || ev.index >= live.length) {
        var last = live[live.length - 1];
        if (!last) tbody.insertBefore(tr, tbody.firstChild);
        else if (last.nextElementSibling !== tr) last.after(tr);
      }
      fill(tr, ev);
      flash(tr, isNew ? "added" : "modified");
    });
    es.addEventListener("end", function (m) { status.textContent = "live: ended (" + JSON.parse(m.data) + ")"; es.close(); });
    es.addEventListener("error", function () { if (es.readyState !== 2) status.textContent = "live: reconnecting…"; });
  }

  // Keyboard: j/k move through table rows, Enter opens, / focuses the
  // query or search box, n/p page.
  var kb = -1;
  document.addEventListener("keydown", function (e) {
    if (e.target.closest("input, textarea, select") || e.metaKey || e.ctrlKey || e.altKey) return;
    var rows = $$("tbody tr[data-testid=doc-row], tbody tr[data-testid=user-row]");
    if (e.key === "j" || e.key === "k") {
      if (!rows.length) return;
      if (rows[kb]) rows[kb].classList.remove("kb");
      kb = Math.max(0, Math.min(rows.length - 1, kb + (e.key === "j" ? 1 : -1)));
      rows[kb].classList.add("kb"); rows[kb].scrollIntoView({ block: "nearest" });
      var l = $("th a", rows[kb]); if (l) l.focus();
      e.preventDefault();
    } else if (e.key === "/") {
      var q = $("[data-testid=users-search]") || $("[data-testid=qb-field]");
      if (q) { var d = q.closest("details"); if (d) d.open = true; q.focus(); e.preventDefault(); }
    } else if (e.key === "n") {
      var nx = $("[data-testid=page-next], [data-testid=users-next]"); if (nx) nx.click();
    }
  });
  void csrf;
})();
