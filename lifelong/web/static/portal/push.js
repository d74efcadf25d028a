// Web Push on the preferences page: ask permission, subscribe this browser with the
// business's VAPID key, and hand the subscription to the portal (which stores it).
(function () {
  "use strict";
  var box = document.getElementById("push");
  if (!box) return;
  var button = box.querySelector("button");
  var status = box.querySelector("[role=status]");

  function say(text) {
    status.textContent = text;
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    button.disabled = true;
    say(box.dataset.unsupported);
    return;
  }

  // The VAPID public key comes base64url-encoded; the browser wants raw bytes.
  function keyBytes(text) {
    var base64 = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // The worker lives under /static/, so it never controls this page and
  // `serviceWorker.ready` would wait forever: wait for this registration instead.
  function activated(registration) {
    if (registration.active) return Promise.resolve(registration);
    var worker = registration.installing || registration.waiting;
    return new Promise(function (resolve) {
      worker.addEventListener("statechange", function () {
        if (worker.state === "activated") resolve(registration);
      });
    });
  }

  function send(subscription) {
    return fetch(box.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
      body: JSON.stringify(subscription),
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
    });
  }

  function subscribe() {
    return navigator.serviceWorker
      .register(box.dataset.worker)
      .then(activated)
      .then(function (registration) {
        return registration.pushManager.getSubscription().then(function (existing) {
          return existing || registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: keyBytes(box.dataset.key),
          });
        });
      })
      .then(send);
  }

  function done() {
    button.hidden = true;
    say(box.dataset.done);
  }

  if (Notification.permission === "denied") {
    button.disabled = true;
    say(box.dataset.denied);
    return;
  }
  // Already allowed: re-send the subscription so the portal has this browser's current keys.
  if (Notification.permission === "granted") {
    subscribe().then(done, function () {});
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    Notification.requestPermission()
      .then(function (permission) {
        if (permission !== "granted") throw new Error("denied");
        return subscribe();
      })
      .then(done, function (error) {
        button.disabled = false;
        say(error.message === "denied" ? box.dataset.denied : box.dataset.failed);
      });
  });
})();
