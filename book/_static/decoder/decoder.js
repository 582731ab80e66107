/*
 * decoder.js — the page side of the JWT decoder and validator: reads the form, calls JwtDecoder
 * (decoder-core.js) and draws the results. Everything stays in this page: no request is made, nothing
 * is stored. Token contents are only ever inserted as text (textContent), never as HTML, so a hostile
 * token cannot script the page.
 */
(function () {
  "use strict";

  var core = window.JwtDecoder;
  var data = window.JwtDecoderData || null;
  var $ = function (id) { return document.getElementById(id); };
  var root = $("jwtd");
  if (!root || !core) return;

  var els = {
    token: $("jwtd-token"), key: $("jwtd-key"), alg: $("jwtd-alg"), iss: $("jwtd-iss"), aud: $("jwtd-aud"),
    required: $("jwtd-required"),
    leeway: $("jwtd-leeway"), now: $("jwtd-now"), nowHelp: $("jwtd-now-help"), keyInfo: $("jwtd-key-info"),
    colored: $("jwtd-colored"), decodeStatus: $("jwtd-decode-status"), header: $("jwtd-header"), claims: $("jwtd-claims"),
    times: $("jwtd-times").querySelector("tbody"), warnings: $("jwtd-warnings"), verdict: $("jwtd-verdict"),
    signature: $("jwtd-signature"), checks: $("jwtd-checks"), exampleButtons: $("jwtd-example-buttons"),
    exampleNote: $("jwtd-example-note"), form: $("jwtd-form")
  };
  var runCounter = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  /* Reason titles and fixes mark code with `backticks`: show those parts as <code>, still as text only. */
  function rich(text) {
    var span = el("span");
    String(text).split("`").forEach(function (piece, n) {
      if (piece) span.appendChild(n % 2 ? el("code", { text: piece }) : document.createTextNode(piece));
    });
    return span;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function secretEncoding() {
    return document.querySelector("input[name=jwtd-secret-encoding]:checked").value;
  }

  function currentNow() {
    var parsed = core.parseNow(els.now.value);
    return parsed === null ? null : parsed;
  }

  function setNow(seconds, why) {
    els.now.value = core.iso(seconds);
    els.nowHelp.textContent = why;
  }

  /* ------------------------------------------------------------ decoding (live) */

  function renderColored(decoded) {
    clear(els.colored);
    var token = decoded.token;
    if (!token) return;
    var parts = token.split(".");
    if (parts.length !== 3 || token.length > core.MAX_SIZE) {
      els.colored.appendChild(el("span", { className: "jwtd-seg-bad", text: token.length > 2000 ? token.slice(0, 2000) + "…" : token }));
      return;
    }
    ["h", "p", "s"].forEach(function (cls, n) {
      if (n) els.colored.appendChild(el("span", { className: "jwtd-dot", text: "." }));
      els.colored.appendChild(el("span", { className: "jwtd-seg-" + cls, text: parts[n] }));
    });
  }

  function decodeNow() {
    var decoded = core.decode(els.token.value);
    var now = currentNow();
    renderColored(decoded);
    els.header.textContent = decoded.headerPretty || "";
    if (decoded.claimsPretty) els.claims.textContent = decoded.claimsPretty;
    else if (decoded.payloadText !== null && decoded.payloadText !== undefined) els.claims.textContent = decoded.payloadText;
    else els.claims.textContent = "";
    clear(els.times);
    clear(els.warnings);
    var status;
    if (!decoded.token) {
      status = "Paste a token or load an example.";
      els.decodeStatus.removeAttribute("data-reason");
    } else if (decoded.error) {
      status = "Cannot decode: " + decoded.error.message + " [" + decoded.error.reason + "]";
      els.decodeStatus.setAttribute("data-reason", decoded.error.reason);
    } else if (decoded.claimsError) {
      status = "The header decodes; the payload is not a JSON claims set: " + decoded.claimsError.message +
        " [" + decoded.claimsError.reason + "]";
      els.decodeStatus.setAttribute("data-reason", decoded.claimsError.reason);
    } else {
      status = "Decoded. Nothing is verified yet: anyone can write these fields." + (decoded.trimmed ? " (Surrounding whitespace was ignored.)" : "");
      els.decodeStatus.setAttribute("data-reason", "");
    }
    els.decodeStatus.textContent = status;
    els.decodeStatus.className = decoded.error || decoded.claimsError ? "jwtd-help jwtd-bad" : "jwtd-help";
    if (decoded.claims) {
      var rows = core.describeTimes(decoded.claims, now === null ? Date.now() / 1000 : now);
      if (!rows.length) {
        els.times.appendChild(el("tr", {}, [el("td", { colspan: "3", text: "No exp, nbf or iat claim." })]));
      }
      rows.forEach(function (r) {
        els.times.appendChild(el("tr", { "data-claim": r.name }, [
          el("th", { scope: "row", text: r.name }), el("td", { text: r.date || String(r.value) }), el("td", { text: r.text })
        ]));
      });
    }
    if (decoded.header || decoded.claims) {
      var list = core.warnings(decoded, { now: now === null ? Date.now() / 1000 : now });
      if (!list.length) els.warnings.appendChild(el("li", { className: "jwtd-none", text: "None." }));
      list.forEach(function (w) {
        els.warnings.appendChild(el("li", { "data-code": w.code }, [el("span", { className: "jwtd-icon", "aria-hidden": "true", text: "⚠ " }), w.message]));
      });
    }
    return decoded;
  }

  function describeKey() {
    if (!els.key.value.trim()) {
      els.keyInfo.textContent = "The key's type decides the algorithm family; the token's \"alg\" never does.";
      els.keyInfo.className = "jwtd-help";
      return;
    }
    try {
      var key = core.parseKey(els.key.value, { secretEncoding: secretEncoding() });
      els.keyInfo.textContent = key.description + ". Allows: " + core.allowedAlgorithms(key).join(", ") + ".";
      els.keyInfo.className = "jwtd-help";
    } catch (e) {
      els.keyInfo.textContent = e.message;
      els.keyInfo.className = "jwtd-help jwtd-bad";
    }
  }

  /* ------------------------------------------------------------ verification */

  function resetResult(message) {
    runCounter++;
    els.verdict.setAttribute("data-state", "idle");
    els.verdict.removeAttribute("data-ok");
    els.verdict.removeAttribute("data-reason");
    els.verdict.className = "jwtd-verdict";
    els.verdict.textContent = message;
    els.signature.setAttribute("data-state", "idle");
    els.signature.removeAttribute("data-ok");
    els.signature.removeAttribute("data-reason");
    clear(els.signature);
    clear(els.checks);
  }

  function statusLine(ok, label, reason, message, fix) {
    var icon = ok === true ? "✓" : ok === false ? "✗" : "–";
    var word = ok === true ? "passed" : ok === false ? "failed" : "not checked";
    var children = [
      el("span", { className: "jwtd-icon", "aria-hidden": "true", text: icon + " " }),
      el("strong", { text: label + ": " + word }),
      reason ? " " : "",
      reason ? el("code", { className: "jwtd-reason", text: reason }) : "",
      el("span", { className: "jwtd-msg", text: " — " + message })
    ];
    if (ok === false && fix) children.push(el("span", { className: "jwtd-fix" }, ["Fix: ", rich(fix)]));
    return children;
  }

  function settings() {
    var leeway = Number(els.leeway.value);
    var now = currentNow();
    var problems = [];
    if (!(els.leeway.value.trim() !== "" && isFinite(leeway) && leeway >= 0 && leeway <= 300)) problems.push("The leeway must be a number of seconds between 0 and 300.");
    if (now === null) problems.push("\"Now\" must be a UTC time like 2026-01-01T00:00:00Z or seconds since 1970.");
    return {
      problems: problems,
      options: {
        algorithms: els.alg.value ? [els.alg.value] : null,
        issuer: els.iss.value.trim() || null,
        audience: els.aud.value.trim() || null,
        leeway: leeway,
        now: now,
        required: els.required.value.split(",").map(function (n) { return n.trim(); }).filter(Boolean),
        secretEncoding: secretEncoding()
      }
    };
  }

  async function runVerify() {
    var run = ++runCounter;
    var s = settings();
    els.verdict.setAttribute("data-state", "running");
    if (s.problems.length) {
      resetResult(s.problems.join(" "));
      els.verdict.setAttribute("data-state", "invalid-settings");
      els.verdict.className = "jwtd-verdict jwtd-bad";
      return;
    }
    var result = await core.verify(els.token.value, els.key.value, s.options);
    if (run !== runCounter) return; // the form changed meanwhile; a newer run draws its own result
    clear(els.signature);
    clear(els.checks);
    els.verdict.className = "jwtd-verdict " + (result.verdict.ok ? "jwtd-ok" : "jwtd-bad");
    if (result.keyError) {
      els.verdict.textContent = "Cannot verify: " + result.keyError;
      els.verdict.setAttribute("data-ok", "false");
      els.verdict.setAttribute("data-reason", "");
      els.verdict.setAttribute("data-state", "key-error");
      return;
    }
    var v = result.verdict;
    var title = v.ok ? "Accepted with these settings" : "Rejected: " + core.describe(v.reason).title;
    clear(els.verdict);
    els.verdict.appendChild(el("strong", {}, [(v.ok ? "✓ " : "✗ "), rich(title)]));
    if (v.reason) els.verdict.appendChild(document.createTextNode(" "));
    if (v.reason) els.verdict.appendChild(el("code", { className: "jwtd-reason", text: v.reason }));
    els.verdict.appendChild(el("span", { className: "jwtd-msg", text: " — " + v.message }));
    els.verdict.setAttribute("data-ok", String(v.ok));
    els.verdict.setAttribute("data-reason", v.reason || "");

    var sig = result.signature;
    els.signature.className = "jwtd-check-box " + (sig.ok ? "jwtd-ok" : "jwtd-bad");
    statusLine(sig.ok, "Signature", sig.reason, sig.message, sig.fix).forEach(function (c) {
      if (c) els.signature.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    els.signature.setAttribute("data-ok", String(sig.ok));
    els.signature.setAttribute("data-reason", sig.reason || "");
    els.signature.setAttribute("data-state", "done");

    if (result.claimsError) {
      var d = core.describe(result.claimsError.reason);
      els.checks.appendChild(el("li", { "data-check": "parse", "data-status": "fail", "data-reason": result.claimsError.reason, className: "jwtd-bad" },
        statusLine(false, "Claims are a JSON object", result.claimsError.reason, result.claimsError.message, d.fix).filter(Boolean)));
    } else if (result.claims) {
      result.claims.checks.forEach(function (c) {
        var ok = c.status === "pass" ? true : c.status === "fail" ? false : null;
        els.checks.appendChild(el("li", { "data-check": c.id, "data-status": c.status, "data-reason": c.reason || "",
          className: ok === true ? "jwtd-ok" : ok === false ? "jwtd-bad" : "jwtd-skip" },
          statusLine(ok, c.label, c.reason, c.message, c.fix).filter(Boolean)));
      });
    }
    if (!sig.ok && result.claims) {
      els.checks.appendChild(el("li", { className: "jwtd-note", text:
        "The claims above are shown for learning only: with a failed signature they are whatever the sender wrote, and a real verifier stops at the signature." }));
    }
    els.verdict.setAttribute("data-state", "done");
  }

  /* ------------------------------------------------------------ examples */

  function loadExample(example) {
    els.token.value = example.token;
    els.key.value = example.key;
    document.querySelector("input[name=jwtd-secret-encoding][value=" + (example.secretEncoding === "base64url" ? "base64url" : "utf8") + "]").checked = true;
    els.alg.value = "";
    els.iss.value = example.issuer;
    els.aud.value = example.audience;
    els.leeway.value = "60";
    els.required.value = core.DEFAULT_REQUIRED.join(", ");
    setNow(example.now, "Set to the course clock (" + core.iso(example.now) + "): the examples are minted at that moment, so they never go stale. Press \"Current time\" to see them age.");
    els.exampleNote.textContent = "Loaded \"" + example.title + "\": " + example.about + " Key: the demo keys (published on purpose — never trust them).";
    decodeNow();
    describeKey();
    runVerify();
  }

  function setupExamples() {
    if (!data || !data.examples) {
      els.exampleNote.textContent = "The example tokens are missing from this build (data.js); the decoder still works.";
      return;
    }
    data.examples.forEach(function (example) {
      var button = el("button", { type: "button", className: "jwtd-btn", "data-example": example.id, text: example.title });
      button.addEventListener("click", function () { loadExample(example); });
      els.exampleButtons.appendChild(button);
    });
  }

  /* ------------------------------------------------------------ wiring */

  function changed() {
    resetResult("Settings changed: press Verify.");
  }

  els.token.addEventListener("input", function () { decodeNow(); changed(); });
  els.key.addEventListener("input", function () { describeKey(); changed(); });
  Array.prototype.forEach.call(document.querySelectorAll("input[name=jwtd-secret-encoding]"), function (r) {
    r.addEventListener("change", function () { describeKey(); changed(); });
  });
  [els.alg, els.iss, els.aud, els.required, els.leeway].forEach(function (input) {
    input.addEventListener("input", changed);
    input.addEventListener("change", changed);
  });
  els.now.addEventListener("input", function () {
    els.nowHelp.textContent = currentNow() === null ? "Not a time: use 2026-01-01T00:00:00Z or seconds since 1970." : "Times are judged at this moment.";
    decodeNow();
    changed();
  });
  $("jwtd-now-real").addEventListener("click", function () {
    setNow(Math.floor(Date.now() / 1000), "Set to this device's clock.");
    decodeNow();
    changed();
  });
  $("jwtd-now-course").addEventListener("click", function () {
    var course = data ? data.courseNow : 1767225600;
    setNow(course, "Set to the course clock, the moment every course example happens.");
    decodeNow();
    changed();
  });
  els.form.addEventListener("submit", function (event) {
    event.preventDefault();
    runVerify();
  });

  setNow(Math.floor(Date.now() / 1000), "Set to this device's clock.");
  setupExamples();
  decodeNow();
  root.setAttribute("data-state", "ready");
})();
