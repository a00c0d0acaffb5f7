/* The grid worker's field app: login to a device token, report, act on his cases, record a
   patrol; everything goes through the outbox (outbox.js) so nothing waits for the network. */
"use strict";
(function () {
  var GM = self.GM, db = GM.db, outbox = GM.outbox;
  var API = "/api/v1", LANG_COOKIE = "gridmgr_lang", THIN_S = 10, THIN_M = 20, MAX_SIDE = 1600;
  var WORDS = {
    "app": ["网格员", "Grid worker"], "lang": ["English", "中文"],
    "login.title": ["网格员登录", "Grid worker login"], "login.id": ["人员编号", "Person id"],
    "login.password": ["密码", "Password"], "login.submit": ["登录", "Log in"],
    "login.failed": ["登录失败：", "Login failed: "], "login.offline": ["登录需要网络", "Logging in needs the network"],
    "tab.report": ["上报", "Report"], "tab.cases": ["案件", "Cases"], "tab.patrol": ["巡查", "Patrol"], "tab.outbox": ["待发", "Outbox"],
    "report.category": ["类别", "Category"], "report.description": ["描述", "Description"],
    "report.place": ["位置", "Place"], "report.locate": ["定位", "Locate"], "report.photo": ["照片", "Photo"],
    "report.photo_required": ["该类事项须附照片", "This category needs a photo"],
    "report.submit": ["上报", "Report"], "report.saved": ["已保存到待发箱，联网后自动发送", "Saved to the outbox; sent when online"],
    "report.no_place": ["尚未定位，请点击“定位”", "No location yet: press Locate"],
    "report.locating": ["定位中…", "locating…"], "report.no_gps": ["无法定位：", "No location: "],
    "cases.as_of": ["数据时间", "As of"], "cases.refresh": ["刷新", "Refresh"], "cases.none": ["没有在办案件", "No open cases"],
    "cases.due_in": ["剩余", "due in"], "cases.overdue": ["已超时", "overdue by"], "cases.no_due": ["无时限", "no deadline"],
    "cases.pending": ["待发送：", "waiting to send: "],
    "patrol.start": ["开始巡查", "Start patrol"], "patrol.stop": ["结束巡查", "Stop patrol"],
    "patrol.on": ["巡查中，已记录 {n} 个点", "patrolling, {n} points recorded"], "patrol.off": ["未在巡查", "not patrolling"],
    "patrol.track": ["今日轨迹", "Today's track"], "patrol.coverage": ["本周覆盖率", "Coverage this week"],
    "outbox.last_sync": ["上次同步", "Last sync"], "outbox.waiting": ["待发送", "Waiting"], "outbox.send": ["立即发送", "Send now"],
    "outbox.who": ["当前用户", "Logged in as"], "outbox.logout": ["退出并注销本设备", "Log out and revoke this device"],
    "outbox.refused": ["被拒绝：", "Refused: "], "outbox.discard": ["删除", "Discard"], "outbox.retry": ["第 {n} 次重试", "retry {n}"],
    "outbox.other": ["属于 {who}，请以其账号登录后发送", "belongs to {who}: log in as {who} to send it"],
    "outbox.sent": ["已发送", "Sent"], "outbox.never": ["从未", "never"], "outbox.relogin": ["登录已失效，请重新登录", "Your login expired: log in again"],
    "outbox.confirm_logout": ["还有 {n} 项未发送，退出将丢弃它们。继续？", "{n} items are not sent yet; logging out discards them. Go on?"],
    "outbox.logout_offline": ["注销设备需要网络", "Revoking the device needs the network"],
    "kind.report": ["上报", "Report"], "kind.action": ["操作", "Action"], "kind.point": ["巡查点", "Patrol point"],
    "action.comment": ["说明", "Comment"], "action.extend": ["延期", "Extend by"], "action.photo": ["处置后照片", "Photo after"],
    "action.ok": ["确定", "OK"], "action.cancel": ["取消", "Cancel"],
    "act.accept": ["签收", "Accept"], "act.return": ["退回", "Return"], "act.request_defer": ["申请延期", "Request deferral"],
    "act.start": ["开始处置", "Start work"], "act.handle": ["反馈", "Report back"],
    "net.on": ["在线", "online"], "net.off": ["离线", "offline"],
  };
  var ACTIONS = ["accept", "return", "request_defer", "start", "handle"];
  var lang = langOf(), bundle = null, fix = null, watchId = null, lastKept = null, pointsToday = 0;

  function langOf() {
    var q = new URLSearchParams(location.search).get("lang");
    if (q === "zh" || q === "en") { setLangCookie(q); return q; }
    var m = document.cookie.match(/(?:^|; )gridmgr_lang=(zh|en)/);
    return m ? m[1] : "zh";
  }
  function setLangCookie(value) {
    document.cookie = LANG_COOKIE + "=" + value + "; path=/; max-age=31536000; samesite=lax";
  }
  function t(key, vars) {
    var pair = WORDS[key], s = pair ? pair[lang === "en" ? 1 : 0] : key;
    Object.keys(vars || {}).forEach(function (k) { s = s.replace("{" + k + "}", vars[k]); });
    return s;
  }
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;  // citizen text: never HTML
    return e;
  }
  function translate() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-t]").forEach(function (e) { e.textContent = t(e.dataset.t); });
    $("lang").textContent = t("lang");
  }
  function when(iso) {
    return iso ? new Date(iso).toLocaleString(lang === "en" ? "en-GB" : "zh-CN", { hour12: false }) : t("outbox.never");
  }
  function span(ms) {
    var m = Math.round(Math.abs(ms) / 60000), d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60);
    var parts = lang === "en" ? [[d, " d"], [h, " h"], [m % 60, " min"]] : [[d, "天"], [h, "小时"], [m % 60, "分"]];
    return parts.filter(function (p, i) { return p[0] || i === 2; }).slice(0, 2).map(function (p) { return p[0] + p[1]; }).join(" ");
  }

  /* -- token ----------------------------------------------------------------------------- */
  function api(path, options) {
    return db.get("token").then(function (token) {
      var o = Object.assign({ headers: {} }, options || {});
      o.headers.Authorization = "Bearer " + token;
      return fetch(API + path, o);
    });
  }
  function login(event) {
    event.preventDefault();
    var form = event.target, msg = $("login-message");
    var body = { login: form.login.value.trim(), password: form.password.value,
      label: ("field app · " + (navigator.userAgentData && navigator.userAgentData.platform || navigator.platform || "phone")).slice(0, 60) };
    msg.textContent = "";
    fetch(API + "/devices", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (b) {
          if (!r.ok) throw new Error((b.error && b.error.message) || r.statusText);
          return Promise.all([db.set("token", b.token), db.set("device_id", b.token_id),
            db.set("person", b.person_id), db.del("auth_error")]);
        });
      })
      .then(function () { form.reset(); return start(); })
      .catch(function (e) { msg.textContent = e instanceof TypeError ? t("login.offline") : t("login.failed") + e.message; });
  }
  function logout() {
    Promise.all([outbox.items(), db.get("person")]).then(function (got) {
      var waiting = got[0].filter(function (i) { return i.state === "waiting" && i.person === got[1]; }).length;
      if (waiting && !confirm(t("outbox.confirm_logout", { n: waiting }))) return;
      return db.get("device_id").then(function (id) {
        return api("/devices/" + encodeURIComponent(id), { method: "DELETE" });
      }).then(forget, function () { alert(t("outbox.logout_offline")); });
    });
  }
  /* Forget this login on the phone: its token, bundle, track and its own outbox items. */
  function forget() {
    stopPatrol();
    return Promise.all([db.get("person"), outbox.items()]).then(function (got) {
      var mine = got[1].filter(function (i) { return i.person === got[0]; }).map(function (i) { return i.id; });
      return db.remove("outbox", mine);
    }).then(function () { return db.clear(["kv", "track"]); }).then(function () {
      if (self.caches) caches.delete("gridmgr-field-data");
      bundle = null;
      show(false);
    });
  }

  /* -- bundle: cells, categories, cases ------------------------------------------------ */
  function loadBundle() {
    return api("/me/bundle", { cache: "no-store" }).then(function (r) {
      if (r.status === 401) return db.set("auth_error", "expired").then(function () { return null; });
      return r.ok ? r.json() : null;
    }).catch(function () { return null; }).then(function (fresh) {
      if (fresh) {
        fresh.fetched_at = new Date().toISOString();
        return db.set("bundle", fresh).then(function () { return fresh; });
      }
      return db.get("bundle");
    }).then(function (b) { bundle = b || null; renderBundle(); });
  }
  function categories() { return (bundle && bundle.categories) || []; }
  /* Whether reports and 反馈 of this category need a photo (as the dashboard asks). */
  function needsPhoto(code) {
    var c = categories().find(function (x) { return x.code === code; });
    return Boolean(c && c.photo_required);
  }
  function markPhotoRequired() {
    var need = needsPhoto($("category").value);
    $("photo").required = need;
    $("photo-hint").hidden = !need;
  }
  function categoryName(code) {
    var c = categories().find(function (x) { return x.code === code; });
    if (!c) return code;
    return (lang === "en" ? c.name_en || c.en : c.name_zh || c.zh || c.name) || code;
  }
  function renderBundle() {
    var select = $("category"), chosen = select.value;
    select.replaceChildren();
    categories().forEach(function (c) {
      var o = el("option", null, categoryName(c.code) + " · " + c.code);
      o.value = c.code;
      select.appendChild(o);
    });
    if (chosen) select.value = chosen;
    markPhotoRequired();
    $("bundle-at").textContent = bundle ? when(bundle.server_time || bundle.fetched_at) : "—";
    renderCases();
    drawMap();
  }

  /* -- reports ----------------------------------------------------------------------------- */
  function locate() {
    $("place").textContent = t("report.locating");
    navigator.geolocation.getCurrentPosition(function (p) {
      setFix(p);
    }, function (e) { $("place").textContent = t("report.no_gps") + e.message; },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }
  function setFix(p) {
    fix = { lon: p.coords.longitude, lat: p.coords.latitude, accuracy_m: p.coords.accuracy, at: p.timestamp };
    $("place").textContent = fix.lon.toFixed(5) + ", " + fix.lat.toFixed(5) + " (±" + Math.round(fix.accuracy_m || 0) + " m)";
  }
  /* A photo shrunk on the phone to at most 1600 px on its longer side, as JPEG. */
  function shrink(file) {
    if (!file) return Promise.resolve(null);
    return createImageBitmap(file).then(function (img) {
      var scale = Math.min(1, MAX_SIDE / Math.max(img.width, img.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(img.width * scale);
      canvas.height = Math.round(img.height * scale);
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.85); });
    });
  }
  function report(event) {
    event.preventDefault();
    var form = event.target, msg = $("report-message");
    if (!fix) { msg.className = "message error"; msg.textContent = t("report.no_place"); return; }
    var captured = outbox.isoLocal();
    var payload = { category: form.category.value, description: form.description.value.trim(),
      lon: fix.lon, lat: fix.lat, datum: "wgs84", captured_at: captured };
    $("report-submit").disabled = true;
    shrink($("photo").files[0]).then(function (photo) {
      return outbox.add("report", payload, { photo: photo, label: categoryName(payload.category) });
    }).then(function () {
      form.description.value = "";
      $("photo").value = "";
      msg.className = "message";
      msg.textContent = t("report.saved");
      sendSoon();
    }).finally(function () { $("report-submit").disabled = false; });
  }

  /* -- my cases -------------------------------------------------------------------------- */
  function renderCases() {
    var list = $("cases"), cases = (bundle && bundle.cases) || [];
    list.replaceChildren();
    if (!cases.length) list.appendChild(el("li", "muted", t("cases.none")));
    outbox.items().then(function (items) {
      cases.forEach(function (c) { list.appendChild(caseCard(c, items)); });
      tick();
    });
  }
  function caseCard(c, items) {
    var li = el("li"), id = c.case_id || c.id;
    li.appendChild(el("div", "title", "#" + (c.number || id.slice(0, 8)) + " " + categoryName(c.category)));
    li.appendChild(el("div", null, c.description));
    li.appendChild(el("div", "muted", c.state_zh && lang === "zh" ? c.state_zh : c.state));
    var due = el("div", "due");
    due.dataset.due = c.due_at || c.deadline || "";
    li.appendChild(due);
    var photos = el("div", "photos");
    (c.photos || []).forEach(function (p) { photos.appendChild(photo(typeof p === "string" ? p : p.url)); });
    li.appendChild(photos);
    var pending = items.filter(function (i) { return i.kind === "action" && i.case_id === id; });
    if (pending.length) {
      li.appendChild(el("div", "muted", t("cases.pending") + pending.map(function (i) { return t("act." + i.payload.action); }).join("、")));
    }
    var actions = el("div", "actions");
    // the next allowed actions depend on the one waiting to be sent: offered after it is
    (pending.length ? [] : c.allowed_actions || c.actions || []).forEach(function (a) {
      var name = typeof a === "string" ? a : a.action;
      if (ACTIONS.indexOf(name) < 0) return;
      var b = el("button", "secondary", t("act." + name));
      b.type = "button";
      b.dataset.action = name;
      b.addEventListener("click", function () { askAction(c, name); });
      actions.appendChild(b);
    });
    li.appendChild(actions);
    return li;
  }
  /* A case photo: fetched with the token (the service worker keeps a copy for offline). */
  var photoUrls = {};
  function photo(url) {
    var img = el("img");
    img.alt = "";
    if (photoUrls[url]) { img.src = photoUrls[url]; return img; }
    db.get("token").then(function (token) {
      return fetch(url, { headers: { Authorization: "Bearer " + token } });
    }).then(function (r) { return r.ok ? r.blob() : null; }).then(function (b) {
      if (b) img.src = photoUrls[url] = URL.createObjectURL(b);
    }).catch(function () {});
    return img;
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".due").forEach(function (d) {
      if (!d.dataset.due) { d.textContent = t("cases.no_due"); return; }
      var left = new Date(d.dataset.due).getTime() - now;
      d.classList.toggle("over", left < 0);
      d.textContent = (left < 0 ? t("cases.overdue") : t("cases.due_in")) + " " + span(left);
    });
  }
  var acting = null;
  function askAction(c, name) {
    acting = { c: c, name: name };
    var form = $("action-form");
    form.reset();
    $("action-title").textContent = t("act." + name) + " · #" + (c.number || "");
    $("action-extend").hidden = name !== "request_defer";
    $("action-photo").hidden = name !== "handle";
    form.photo.required = name === "handle" && needsPhoto(c.category);
    $("action-dialog").showModal();
  }
  function submitAction(event) {
    event.preventDefault();
    var form = event.target, c = acting.c, name = acting.name;
    var payload = { action: name, comment: form.comment.value.trim() };
    if (name === "request_defer") payload.extend = form.extend.value;
    // no version: an escalation moving the case on must not refuse a sign-for made offline; the
    // state machine's guards decide whether the action still applies
    $("action-dialog").close();
    shrink(name === "handle" ? form.photo.files[0] : null).then(function (p) {
      return outbox.add("action", payload, { case_id: c.case_id || c.id, photo: p, label: t("act." + name) + " #" + (c.number || "") });
    }).then(function () { renderCases(); sendSoon(); });
  }

  /* -- patrol ---------------------------------------------------------------------------- */
  function metres(a, b) {
    var r = 6371008.8, rad = Math.PI / 180, x = (b.lon - a.lon) * rad * Math.cos((a.lat + b.lat) / 2 * rad);
    return r * Math.hypot(x, (b.lat - a.lat) * rad);
  }
  function today() { return outbox.isoLocal().slice(0, 10); }
  function startPatrol() {
    if (watchId !== null) return;
    db.set("patrolling", true);
    watchId = navigator.geolocation.watchPosition(onPosition, function () {}, { enableHighAccuracy: true, maximumAge: 0 });
    renderPatrol();
  }
  function stopPatrol() {
    if (watchId !== null) navigator.geolocation.clearWatch(watchId);
    watchId = null;
    lastKept = null;
    db.set("patrolling", false);
    renderPatrol();
    sendSoon();
  }
  /* Keep a fix when 10 s have passed or the worker moved 20 m since the last one kept. */
  function onPosition(p) {
    setFix(p);
    var here = { lon: fix.lon, lat: fix.lat, t: p.timestamp || Date.now() };
    if (lastKept && here.t - lastKept.t < THIN_S * 1000 && metres(lastKept, here) < THIN_M) return;
    lastKept = here;
    var at = outbox.isoLocal(new Date(here.t));
    outbox.add("point", { lon: fix.lon, lat: fix.lat, accuracy_m: fix.accuracy_m, captured_at: at });
    db.put("track", { day: at.slice(0, 10), at: at, lon: fix.lon, lat: fix.lat }).then(function () {
      pointsToday += 1; renderPatrol(); drawMap();
    });
  }
  function renderPatrol() {
    $("patrol-toggle").textContent = t(watchId === null ? "patrol.start" : "patrol.stop");
    $("patrol-state").textContent = watchId === null ? t("patrol.off") : t("patrol.on", { n: pointsToday });
  }
  function loadCoverage() {
    return api("/patrols/coverage?days=7").then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; })
      .then(function (fresh) { return fresh ? db.set("coverage", fresh).then(function () { return fresh; }) : db.get("coverage"); })
      .then(function (cov) {
        var list = $("coverage");
        list.replaceChildren();
        ((cov && cov.cells) || []).forEach(function (c) {
          list.appendChild(el("li", null, cellName(c.cell) + " · " + Math.round(c.coverage * 100) + "%"));
        });
        drawMap(cov);
      });
  }
  function cellName(code) {
    var f = ((bundle && bundle.cells && bundle.cells.features) || []).find(function (x) { return x.id === code; });
    var name = f && f.properties && (lang === "en" ? f.properties.name_en : f.properties.name);
    return name ? name + " (" + code + ")" : code;
  }
  var lastCoverage = null;
  /* His cells (shaded by this week's coverage) and today's track, on a canvas. */
  function drawMap(cov) {
    if (cov) lastCoverage = cov;
    var canvas = $("map"), ctx = canvas.getContext("2d");
    var share = {};
    ((lastCoverage && lastCoverage.cells) || []).forEach(function (c) { share[c.cell] = c.coverage; });
    db.all("track", "day", today()).then(function (track) {
      pointsToday = track.length;
      var features = (bundle && bundle.cells && bundle.cells.features) || [];
      var rings = [];
      features.forEach(function (f) {
        var g = f.geometry, polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
        polys.forEach(function (p) { rings.push({ code: f.id || (f.properties && f.properties.code), ring: p[0] }); });
      });
      var pts = [].concat.apply(track.map(function (p) { return [p.lon, p.lat]; }), rings.map(function (r) { return r.ring; }));
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      if (!pts.length) return;
      var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      pts.forEach(function (p) { x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); });
      var k = Math.cos((y0 + y1) / 2 * Math.PI / 180), pad = 12, w = canvas.width - 2 * pad, h = canvas.height - 2 * pad;
      var s = Math.min(w / Math.max((x1 - x0) * k, 1e-6), h / Math.max(y1 - y0, 1e-6));
      function xy(p) { return [pad + (p[0] - x0) * k * s, pad + h - (p[1] - y0) * s]; }
      rings.forEach(function (r) {
        ctx.beginPath();
        r.ring.forEach(function (p, i) { var q = xy(p); if (i) ctx.lineTo(q[0], q[1]); else ctx.moveTo(q[0], q[1]); });
        ctx.closePath();
        ctx.fillStyle = "rgba(46,125,50," + (0.08 + 0.5 * (share[r.code] || 0)).toFixed(2) + ")";
        ctx.fill();
        ctx.strokeStyle = "#0b5394";
        ctx.lineWidth = 1.5;
        ctx.stroke();
      });
      ctx.beginPath();
      track.forEach(function (p, i) { var q = xy([p.lon, p.lat]); if (i) ctx.lineTo(q[0], q[1]); else ctx.moveTo(q[0], q[1]); });
      ctx.strokeStyle = "#d32f2f";
      ctx.lineWidth = 3;
      ctx.stroke();
    });
  }

  /* -- outbox view ----------------------------------------------------------------------- */
  function renderOutbox() {
    Promise.all([outbox.items(), db.get("last_sync"), db.get("auth_error"), db.get("recent"), db.get("person")]).then(function (got) {
      var items = got[0], list = $("outbox"), person = got[4];
      var waiting = items.filter(function (i) { return i.state === "waiting"; });
      $("waiting-count").textContent = String(items.length);
      $("badge").textContent = String(items.length);
      $("badge").hidden = !items.length;
      $("last-sync").textContent = when(got[1]);
      list.replaceChildren();
      if (got[2]) list.appendChild(el("li", "refused error", t("outbox.relogin")));
      var points = waiting.filter(function (i) { return i.kind === "point"; });
      if (points.length) list.appendChild(el("li", null, t("kind.point") + " × " + points.length));
      items.filter(function (i) { return i.kind !== "point" || i.state === "refused"; }).forEach(function (i) {
        var li = el("li", i.state === "refused" ? "refused" : "waiting");
        li.dataset.id = i.id;
        li.appendChild(el("div", "title", t("kind." + i.kind) + " · " + (i.label || "")));
        li.appendChild(el("div", "muted", when(i.captured_at)));
        if (i.state === "refused") {
          li.appendChild(el("div", "error", t("outbox.refused") + i.error));
          var b = el("button", "small danger", t("outbox.discard"));
          b.type = "button";
          b.addEventListener("click", function () { outbox.discard(i.id).then(renderAll); });
          li.appendChild(b);
        } else if (i.person !== person) {
          li.appendChild(el("div", "error", t("outbox.other", { who: i.person })));
        } else if (i.attempts) {
          li.appendChild(el("div", "muted", t("outbox.retry", { n: i.attempts }) + (i.error ? " · " + i.error : "")));
        }
        list.appendChild(li);
      });
      (got[3] || []).forEach(function (r) {
        list.appendChild(el("li", "muted", t("outbox.sent") + " · " + t("kind." + r.kind) + " " + (r.label || "") +
          (r.number ? " #" + r.number : "") + " · " + when(r.at)));
      });
    });
  }
  function renderAll() { renderOutbox(); renderCases(); }

  /* -- sending --------------------------------------------------------------------------- */
  var sending = false;
  function sendNow(force) {
    if (sending) return Promise.resolve();
    sending = true;
    return outbox.flush(force).catch(function () {}).then(function (res) {
      sending = false;
      renderOutbox();
      db.get("auth_error").then(function (e) { if (e) show(false); });
      if (res && res.sent) { loadBundle(); }
    });
  }
  function sendSoon() {
    renderOutbox();
    navigator.serviceWorker && navigator.serviceWorker.ready.then(function (reg) {
      if (reg.sync) return reg.sync.register("gridmgr-outbox");  // Background Sync: a bonus
    }).catch(function () {});
    if (navigator.onLine) sendNow(true);
  }
  function setNet() {
    var on = navigator.onLine, n = $("net");
    n.textContent = t(on ? "net.on" : "net.off");
    n.classList.toggle("off", !on);
  }

  /* -- shell ----------------------------------------------------------------------------- */
  function showTab(name) {
    document.querySelectorAll(".tab").forEach(function (s) { s.hidden = s.id !== "tab-" + name; });
    document.querySelectorAll("#tabs button").forEach(function (b) { b.classList.toggle("on", b.dataset.tab === name); });
    if (name === "patrol") { drawMap(); loadCoverage(); }
    if (name === "outbox") renderOutbox();
  }
  function show(loggedIn) {
    $("login").hidden = loggedIn;
    $("main").hidden = $("tabs").hidden = !loggedIn;
  }
  function start() {
    return Promise.all([db.get("token"), db.get("auth_error"), db.get("person"), db.get("patrolling")]).then(function (got) {
      if (!got[0] || got[1]) {
      show(false);
      $("login-message").textContent = got[1] ? t("outbox.relogin") : "";
      return;
    }
      show(true);
      $("who").textContent = got[2] || "";
      if (got[3]) startPatrol();
      locate();
      renderPatrol();
      renderOutbox();
      return loadBundle().then(function () { return sendNow(true); });
    });
  }
  function wire() {
    translate();
    setNet();
    $("lang").addEventListener("click", function () {
      lang = lang === "zh" ? "en" : "zh";
      setLangCookie(lang);
      translate(); setNet(); renderBundle(); renderOutbox(); renderPatrol();
    });
    $("login-form").addEventListener("submit", login);
    $("report-form").addEventListener("submit", report);
    $("category").addEventListener("change", markPhotoRequired);
    $("locate").addEventListener("click", locate);
    $("refresh").addEventListener("click", function () { loadBundle(); });
    $("send-now").addEventListener("click", function () { sendNow(true); });
    $("logout").addEventListener("click", logout);
    $("patrol-toggle").addEventListener("click", function () { if (watchId === null) startPatrol(); else stopPatrol(); });
    $("action-form").addEventListener("submit", submitAction);
    $("action-cancel").addEventListener("click", function () { $("action-dialog").close(); });
    document.querySelectorAll("#tabs button").forEach(function (b) {
      b.addEventListener("click", function () { showTab(b.dataset.tab); });
    });
    addEventListener("online", function () { setNet(); sendNow(true); loadBundle(); });
    addEventListener("offline", setNet);
    if (self.BroadcastChannel) new BroadcastChannel("gridmgr-outbox").onmessage = renderOutbox;
    setInterval(function () { if (navigator.onLine) sendNow(false); }, 5000);  // what is due
    setInterval(function () { tick(); if (watchId !== null) sendNow(false); }, 30000);
    if (navigator.serviceWorker) navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(function () {});
    start();
  }
  wire();
})();
