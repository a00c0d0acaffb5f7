/* The field app's service worker (scope /m/): the shell from the cache (so the app opens with no
   network), the worker's bundle and coverage from the network when it answers, else from the
   last copy, case photos from the cache once seen; Background Sync sends the outbox where the
   browser has it. The server stamps VERSION with a digest of the shell's files. */
"use strict";
importScripts("db.js", "outbox.js");

var VERSION = "__VERSION__", SHELL_CACHE = "gridmgr-field-shell-" + VERSION, DATA_CACHE = "gridmgr-field-data";
var SHELL = ["/m/", "/m/app.js", "/m/db.js", "/m/outbox.js", "/m/app.css", "/m/manifest.webmanifest",
  "/m/icon.svg", "/m/icon-192.png"];
var FRESH_FIRST = ["/api/v1/me/bundle", "/api/v1/patrols/coverage"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (c) { return c.addAll(SHELL); }).then(function () {
    return self.skipWaiting();
  }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("gridmgr-field-shell-") === 0 && k !== SHELL_CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var req = event.request, url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (req.mode === "navigate" && url.pathname.indexOf("/m/") === 0) {
    event.respondWith(caches.match("/m/").then(function (hit) { return hit || fetch(req); }));
  } else if (SHELL.indexOf(url.pathname) >= 0) {
    event.respondWith(caches.match(url.pathname).then(function (hit) { return hit || fetch(req); }));
  } else if (FRESH_FIRST.indexOf(url.pathname) >= 0) {
    event.respondWith(fetch(req).then(function (r) {
      if (r.ok) { var copy = r.clone(); caches.open(DATA_CACHE).then(function (c) { c.put(url.pathname, copy); }); }
      return r;
    }, function () {
      return caches.match(url.pathname).then(function (hit) { return hit || Response.error(); });
    }));
  } else if (url.pathname.indexOf("/api/v1/photos/") === 0) {
    event.respondWith(caches.match(url.pathname).then(function (hit) {
      return hit || fetch(req).then(function (r) {
        if (r.ok) { var copy = r.clone(); caches.open(DATA_CACHE).then(function (c) { c.put(url.pathname, copy); }); }
        return r;
      });
    }));
  }
});

self.addEventListener("sync", function (event) {
  if (event.tag === "gridmgr-outbox") event.waitUntil(GM.outbox.flush(true));
});
