/* The outbox: every report, action and patrol point is written here first, with its own client
   UUID and capture time, and sent when the network allows. An item leaves the outbox only when
   the server has acknowledged it (200 or 201; the server answers a resend of the same client id
   with the first answer, so a retry after a lost reply creates nothing twice). A refusal (4xx)
   stays, with the server's message, until the worker discards it; a network error or a 5xx is
   retried with a growing pause. A plain script shared by the page and the service worker. */
"use strict";
var GM = self.GM || (self.GM = {});

GM.outbox = (function () {
  var API = "/api/v1", POINTS_PER_BATCH = 200, POINTS_EVERY_MS = 60 * 1000, MAX_PAUSE_MS = 5 * 60 * 1000, LOCK = "gridmgr-outbox";
  var running = null;

  /* An ISO 8601 time with the device's UTC offset, e.g. 2026-12-02T09:30:00.000+08:00. */
  function isoLocal(date) {
    var d = date || new Date(), off = -d.getTimezoneOffset(), sign = off >= 0 ? "+" : "-";
    var local = new Date(d.getTime() + off * 60000).toISOString().slice(0, 23);
    off = Math.abs(off);
    return local + sign + String(Math.floor(off / 60)).padStart(2, "0") + ":" + String(off % 60).padStart(2, "0");
  }

  /* Keep one write: its client id and capture time go with it, and whose it is (a phone shared by
     two workers sends each one's items only under his own login). */
  function add(kind, payload, extra) {
    var item = Object.assign({
      id: self.crypto.randomUUID(), kind: kind, payload: payload, created: Date.now(),
      captured_at: payload.captured_at || isoLocal(), state: "waiting", attempts: 0, next: 0, error: null,
    }, extra || {});
    item.payload.client_id = item.id;
    item.payload.captured_at = item.captured_at;
    return GM.db.get("person").then(function (person) {
      item.person = person || null;
      return GM.db.put("outbox", item);
    }).then(function () { notify(); return item; });
  }

  function items() { return GM.db.all("outbox", "created"); }

  function discard(id) { return GM.db.remove("outbox", [id]).then(notify); }

  function notify() {
    if (self.BroadcastChannel) new BroadcastChannel("gridmgr-outbox").postMessage("changed");
  }

  /* Send what is due (everything, with force); one flush at a time across tabs and the worker. */
  function flush(force) {
    if (self.navigator.locks) {
      return navigator.locks.request(LOCK, function () { return sendAll(force); });
    }
    if (!running) running = sendAll(force).finally(function () { running = null; });
    return running;
  }

  function sendAll(force) {
    return Promise.all([GM.db.get("token"), items(), GM.db.get("person")]).then(function (got) {
      var token = got[0], person = got[2], now = Date.now();
      if (!token) return { sent: 0, waiting: got[1].length };
      var due = got[1].filter(function (i) {
        return i.state === "waiting" && i.person === person && (force || i.next <= now);
      });
      // patrol points go in batches: once the oldest has waited a minute (or when forced)
      var points = due.filter(function (i) { return i.kind === "point"; });
      if (!force && points.length && now - points[0].created < POINTS_EVERY_MS) points = [];
      var rest = due.filter(function (i) { return i.kind !== "point"; });
      var batches = [];
      for (var k = 0; k < points.length; k += POINTS_PER_BATCH) batches.push(points.slice(k, k + POINTS_PER_BATCH));
      var steps = rest.map(function (i) { return [i]; }).concat(batches), sent = 0;
      function next(n) {
        if (n >= steps.length) return Promise.resolve();
        return sendStep(token, steps[n]).then(function (outcome) {
          if (outcome === "ok") sent += steps[n].length;
          if (outcome === "offline" || outcome === "unauthorized") return outcome;
          return next(n + 1);
        });
      }
      return next(0).then(function (stop) {
        if (sent) GM.db.set("last_sync", new Date().toISOString());
        if (stop === "unauthorized") GM.db.set("auth_error", "expired");
        notify();
        return { sent: sent, stopped: stop || null };
      });
    });
  }

  function sendStep(token, group) {
    var first = group[0];
    var request = first.kind === "point" ? pointsRequest(group)
      : first.kind === "report" ? reportRequest(first) : actionRequest(first);
    return send(token, request).then(function (answer) {
      var r = answer.response, body = answer.body;
      if (r.status === 200 || r.status === 201) {
        return remember(first, body).then(function () {
          return GM.db.remove("outbox", group.map(function (i) { return i.id; }));
        }).then(function () { return "ok"; });
      }
      if (r.status === 401) return "unauthorized";
      var message = (body && body.error && body.error.message) || r.statusText || ("HTTP " + r.status);
      if (r.status >= 400 && r.status < 500 && [408, 425, 429].indexOf(r.status) < 0) {
        return Promise.all(group.map(function (i) {
          i.state = "refused"; i.error = message; i.status = r.status;
          return GM.db.put("outbox", i);
        })).then(function () { return "refused"; });
      }
      return again(group, message, false);
    }, function () { return again(group, null, true); });
  }

  /* Keep the group, waiting a little longer after each failure (with jitter). */
  function again(group, message, offline) {
    return Promise.all(group.map(function (i) {
      i.attempts += 1;
      var pause = Math.min(MAX_PAUSE_MS, 2000 * Math.pow(2, i.attempts - 1));
      i.next = Date.now() + pause * (0.5 + Math.random() / 2);
      i.error = message;
      return GM.db.put("outbox", i);
    })).then(function () { return offline ? "offline" : "retry"; });
  }

  function send(token, req) {
    var headers = { Authorization: "Bearer " + token };
    var body = req.json ? JSON.stringify(req.json) : req.form;
    if (req.json) headers["Content-Type"] = "application/json";
    return fetch(req.url, { method: "POST", headers: headers, body: body, cache: "no-store" })
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (b) { return { response: r, body: b }; });
      });
  }

  function pointsRequest(group) {
    return { url: API + "/patrols/points", json: { datum: "wgs84", points: group.map(function (i) {
      var p = i.payload;
      return { at: p.captured_at, lon: p.lon, lat: p.lat, accuracy_m: p.accuracy_m, client_id: p.client_id };
    }) } };
  }

  function reportRequest(item) {
    var p = item.payload;
    if (!item.photo) return { url: API + "/reports", json: p };
    return { url: API + "/reports/with-photo", form: formOf(p, item.photo) };
  }

  function formOf(fields, photo) {
    var form = new FormData();
    Object.keys(fields).forEach(function (k) {
      if (fields[k] !== null && fields[k] !== undefined) form.append(k, String(fields[k]));
    });
    form.append("photo", photo, "photo.jpg");
    return form;
  }

  /* An action; with its after-photo (反馈), both in one multipart request, idempotent as one. */
  function actionRequest(item) {
    var url = API + "/cases/" + encodeURIComponent(item.case_id) + "/actions";
    if (!item.photo) return { url: url, json: item.payload };
    return { url: url + "/with-photo", form: formOf(item.payload, item.photo) };
  }

  /* The last acknowledged items, for the worker to see what went through. */
  function remember(item, body) {
    if (item.kind === "point") return Promise.resolve();
    return GM.db.get("recent").then(function (list) {
      list = list || [];
      list.unshift({ kind: item.kind, label: item.label || "", at: new Date().toISOString(),
        number: body && (body.number || (body.case && body.case.number)) || null });
      return GM.db.set("recent", list.slice(0, 10));
    });
  }

  return { add: add, items: items, discard: discard, flush: flush, isoLocal: isoLocal };
})();
