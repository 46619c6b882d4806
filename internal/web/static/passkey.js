// Confidant: passkeys (WebAuthn). Signing in, setting up and confirming
// with a passkey need this file; every other page works without it.
// Elements marked data-passkey-only are shown only where the browser has
// WebAuthn; buttons with data-passkey start a ceremony:
//   signin  a discoverable sign-in (no username)
//   second  the second factor of a pending sign-in
//   enrol   a first sign-in sets up a passkey as its second factor
//   register a signed-in user adds a passkey
//   step-up  confirm with a passkey, then submit the form data-form names
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-only]"), function (el) {
    el.hidden = false;
  });

  function fromB64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The server's options (binary fields base64url) as the browser wants
  // them (ArrayBuffers).
  function decodeOptions(options) {
    var pk = options.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    if (pk.user && typeof pk.user.id === "string") {
      pk.user.id = fromB64url(pk.user.id);
    }
    ["excludeCredentials", "allowCredentials"].forEach(function (k) {
      (pk[k] || []).forEach(function (c) {
        c.id = fromB64url(c.id);
      });
    });
    return options;
  }

  // The browser's answer as JSON for the server.
  function encodeCredential(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) {
        response.transports = r.getTransports();
      }
    }
    if (r.authenticatorData) {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) {
        response.userHandle = toB64url(r.userHandle);
      }
    }
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: response
    };
  }

  // post sends JSON to the same origin (with the cookies, as a form is).
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().then(function (j) {
        if (!res.ok) {
          throw new Error(j.error || "Something went wrong. Please try again.");
        }
        return j;
      });
    });
  }

  function showError(msg) {
    var el = document.getElementById("passkey-error");
    if (el) {
      el.textContent = msg;
      el.hidden = false;
    }
  }

  function nameField() {
    var f = document.getElementById("passkey-name");
    return f ? f.value : "";
  }

  // showCodes shows new recovery codes once, then goes on to next.
  function showCodes(codes, next) {
    var box = document.getElementById("recovery-codes");
    if (!codes || !codes.length || !box) {
      window.location.assign(next);
      return;
    }
    var list = document.getElementById("recovery-codes-list");
    codes.forEach(function (c) {
      var li = document.createElement("li");
      var code = document.createElement("code");
      code.textContent = c;
      li.appendChild(code);
      list.appendChild(li);
    });
    document.getElementById("recovery-codes-continue").setAttribute("href", next);
    box.hidden = false;
    box.scrollIntoView();
  }

  // ceremony runs begin, the browser's part, and finish.
  function ceremony(base, create, extra) {
    return post(base + "/begin", extra).then(function (c) {
      var options = decodeOptions(c.options);
      var p = create ? navigator.credentials.create(options) : navigator.credentials.get(options);
      return p.then(function (cred) {
        if (!cred) {
          throw new Error("No passkey was chosen.");
        }
        var body = Object.assign({}, extra, { ceremony: c.ceremony, credential: encodeCredential(cred) });
        return post(base + "/finish", body);
      });
    });
  }

  function fail(button) {
    return function (err) {
      button.disabled = false;
      if (err && err.name === "NotAllowedError") {
        showError("The passkey was not used (cancelled or timed out). Try again.");
        return;
      }
      showError((err && err.message) || "The passkey did not work. Please try again.");
    };
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("[data-passkey]") : null;
    if (!button) {
      return;
    }
    e.preventDefault();
    button.disabled = true;
    var next = button.getAttribute("data-next") || "/";
    switch (button.getAttribute("data-passkey")) {
      case "signin":
        ceremony("/login/passkey", false, { next: next }).then(function (j) {
          window.location.assign(j.redirect);
        }, fail(button));
        break;
      case "second":
        ceremony("/login/passkey", false, { second_factor: true, next: next }).then(function (j) {
          window.location.assign(j.redirect);
        }, fail(button));
        break;
      case "enrol":
        ceremony("/login/passkey/enrol", true, { name: nameField(), next: next }).then(function (j) {
          showCodes(j.recovery_codes, j.redirect);
        }, fail(button));
        break;
      case "register":
        ceremony("/account/passkeys", true, { name: nameField() }).then(function (j) {
          showCodes(j.recovery_codes, j.redirect);
        }, fail(button));
        break;
      case "step-up":
        ceremony("/account/step-up", false, {}).then(function () {
          var form = document.getElementById(button.getAttribute("data-form"));
          var code = form.querySelector("input[name=code]");
          if (code) {
            code.value = "";
          }
          form.submit();
        }, fail(button));
        break;
    }
  });
})();
