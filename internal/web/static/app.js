// Confidant: small enhancements. Every page works without this file; it
// only adds confirmations and fills a note template's headings.
"use strict";

(function () {
  // Ask before an action that cannot be undone. A button (or its form)
  // carries the question in data-confirm.
  document.addEventListener("submit", function (e) {
    var button = e.submitter;
    var question = (button && button.getAttribute("data-confirm")) || e.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      e.preventDefault();
    }
  });

  // Invitation: the link carries the code in its fragment, which never
  // reaches the server; move it into the form and out of the address bar.
  var invite = document.getElementById("invite-code");
  if (invite && window.location.hash.length > 1) {
    invite.value = decodeURIComponent(window.location.hash.slice(1));
    history.replaceState(null, "", window.location.pathname);
  }

  // New note: switching the template fills in its headings at once, as
  // long as the therapist has not started writing.
  var pick = document.getElementById("template-pick");
  var body = document.getElementById("note-body");
  var field = document.getElementById("note-template");
  if (!pick || !body || !field) {
    return;
  }
  var apply = document.getElementById("template-apply");
  if (apply) {
    apply.hidden = true;
  }
  var skeletons = [];
  Array.prototype.forEach.call(pick.options, function (o) {
    skeletons.push((o.getAttribute("data-skeleton") || "").trim());
  });
  pick.addEventListener("change", function () {
    var option = pick.options[pick.selectedIndex];
    var text = body.value.trim();
    var untouched = skeletons.indexOf(text) >= 0;
    field.value = pick.value;
    if (untouched || window.confirm("Replace what you have written with the " + option.text + " headings?")) {
      body.value = option.getAttribute("data-skeleton") || "";
    }
    body.focus();
  });
})();
