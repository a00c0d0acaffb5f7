/* The field app's IndexedDB: a key-value store (device token, bundle, last sync), the outbox
   and today's track. A plain script shared by the page and the service worker (importScripts),
   so both read the same token and outbox. */
"use strict";
var GM = self.GM || (self.GM = {});

GM.db = (function () {
  var NAME = "gridmgr-field", VERSION = 1, opened = null;

  function open() {
    if (opened) return opened;
    opened = new Promise(function (resolve, reject) {
      var req = indexedDB.open(NAME, VERSION);
      req.onupgradeneeded = function () {
        var db = req.result;
        db.createObjectStore("kv");
        db.createObjectStore("outbox", { keyPath: "id" }).createIndex("created", "created");
        db.createObjectStore("track", { autoIncrement: true }).createIndex("day", "day");
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { opened = null; reject(req.error); };
    });
    return opened;
  }

  /* Run fn(store) in one transaction; resolve with what fn's last request gave, once committed. */
  function tx(name, mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(name, mode), result;
        var req = fn(t.objectStore(name));
        if (req) req.onsuccess = function () { result = req.result; };
        t.oncomplete = function () { resolve(result); };
        t.onerror = t.onabort = function () { reject(t.error); };
      });
    });
  }

  return {
    get: function (key) { return tx("kv", "readonly", function (s) { return s.get(key); }); },
    set: function (key, value) { return tx("kv", "readwrite", function (s) { return s.put(value, key); }); },
    del: function (key) { return tx("kv", "readwrite", function (s) { return s.delete(key); }); },
    put: function (store, value) { return tx(store, "readwrite", function (s) { return s.put(value); }); },
    remove: function (store, keys) {
      return tx(store, "readwrite", function (s) { keys.forEach(function (k) { s.delete(k); }); });
    },
    all: function (store, index, range) {
      return tx(store, "readonly", function (s) {
        return (index ? s.index(index) : s).getAll(range);
      });
    },
    clear: function (stores) {
      return Promise.all(stores.map(function (n) {
        return tx(n, "readwrite", function (s) { return s.clear(); });
      }));
    },
  };
})();
