/*
 * decoder-core.js — the token-interpreting logic of the book's JWT decoder and validator.
 *
 * Pure functions only: no DOM, no storage, no network. The page script (decoder.js) calls these and
 * draws the results; the tests call them directly in a headless browser. The rules mirror
 * jwtlab.verify.verify_token and use its reason codes, so the browser and the course's Python verifier
 * reject the same tokens for the same reasons:
 *   - strict compact form, a size cap before any decoding, canonical unpadded base64url;
 *   - strict UTF-8 (a fatal TextDecoder, no byte-order mark, no NUL), JSON without duplicate member
 *     names, NaN or lone surrogates;
 *   - the verifier, never the token, picks the algorithm: the key's type fixes the algorithm family,
 *     a JWK's "alg" pins one algorithm, and "none" never verifies;
 *   - "crit"/"b64" and key-carrying headers (jwk, jku, x5u, x5c) are refused, never followed.
 */
(function (root) {
  "use strict";

  var MAX_SIZE = 8192;
  var MAX_DEPTH = 32; // the same cap as jwtlab.verify (_MAX_JSON_DEPTH), counted in containers
  var MAX_NUMERIC_DATE = 253402300799; // 9999-12-31T23:59:59Z, as in verify.py
  var DEFAULT_REQUIRED = ["exp", "iat", "iss", "aud", "sub"];
  var FORBIDDEN_HEADERS = ["jwk", "jku", "x5u", "x5c", "enc", "zip", "epk"];
  var COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
  var B64URL = /^[A-Za-z0-9_-]*$/;
  var B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  /* Which key family each algorithm needs (one key, one algorithm family: RFC 8725 §3.1). */
  var FAMILY = {
    HS256: "oct", HS384: "oct", HS512: "oct",
    RS256: "RSA", RS384: "RSA", RS512: "RSA",
    PS256: "RSA", PS384: "RSA", PS512: "RSA",
    ES256: "EC:P-256", ES384: "EC:P-384", ES512: "EC:P-521",
    EdDSA: "OKP"
  };
  var ALGORITHMS = Object.keys(FAMILY);
  var MIN_HMAC_BYTES = { HS256: 32, HS384: 48, HS512: 64 };
  var HASH = { "256": "SHA-256", "384": "SHA-384", "512": "SHA-512" };

  /* Every reason code this module can return; each one exists in jwtlab.reasons (a test checks it). */
  var REASON_CODES = [
    "malformed", "too_large", "not_utf8", "duplicate_name", "alg_not_allowed", "kid_unknown",
    "bad_signature", "expired", "not_yet_valid", "issued_in_future", "lifetime_too_long", "issuer",
    "audience", "missing_claim", "bad_claim_type", "crit_unsupported", "forbidden_header", "weak_key"
  ];

  /* ------------------------------------------------------------------ errors and reasons */

  function Rejection(reason, message) {
    this.reason = reason;
    this.message = message;
  }

  /* The title and fix of a reason code, from the build-time data (jwtlab.reasons) when loaded. */
  function describe(code) {
    var data = root.JwtDecoderData;
    var entry = data && data.reasons && data.reasons[code];
    return entry ? { code: code, title: entry.title, fix: entry.fix } : { code: code, title: code, fix: "" };
  }

  function KeyInputError(message) {
    this.name = "KeyInputError";
    this.message = message;
  }
  KeyInputError.prototype = Object.create(Error.prototype);

  /* ------------------------------------------------------------------ base64url */

  function b64urlEncode(bytes) {
    var out = "";
    var i;
    for (i = 0; i + 2 < bytes.length; i += 3) {
      var n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out += B64URL_ALPHABET[(n >> 18) & 63] + B64URL_ALPHABET[(n >> 12) & 63] +
        B64URL_ALPHABET[(n >> 6) & 63] + B64URL_ALPHABET[n & 63];
    }
    var rest = bytes.length - i;
    if (rest === 1) {
      var a = bytes[i] << 16;
      out += B64URL_ALPHABET[(a >> 18) & 63] + B64URL_ALPHABET[(a >> 12) & 63];
    } else if (rest === 2) {
      var b = (bytes[i] << 16) | (bytes[i + 1] << 8);
      out += B64URL_ALPHABET[(b >> 18) & 63] + B64URL_ALPHABET[(b >> 12) & 63] + B64URL_ALPHABET[(b >> 6) & 63];
    }
    return out;
  }

  /* Canonical unpadded base64url only: one token, one spelling (checklist B.15). Throws Rejection. */
  function b64urlDecode(text) {
    if (typeof text !== "string" || !B64URL.test(text)) {
      throw new Rejection("malformed", "not base64url: only A-Z a-z 0-9 - _ are allowed, without '=' padding");
    }
    if (text.length % 4 === 1) {
      throw new Rejection("malformed", "not base64url: impossible length");
    }
    var bytes = new Uint8Array(Math.floor(text.length * 3 / 4));
    var acc = 0;
    var bits = 0;
    var j = 0;
    for (var i = 0; i < text.length; i++) {
      acc = (acc << 6) | B64URL_ALPHABET.indexOf(text[i]);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes[j++] = (acc >> bits) & 255;
        acc &= (1 << bits) - 1;
      }
    }
    if (acc !== 0) {
      throw new Rejection("malformed", "not canonical base64url: the last character has non-zero unused bits");
    }
    return bytes;
  }

  /* Standard base64 (PEM bodies), strict about the alphabet and padding. */
  function b64StdDecode(text) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new KeyInputError("The PEM body is not valid base64.");
    }
    var binary = root.atob(text);
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }

  function utf8Encode(text) {
    return new root.TextEncoder().encode(text);
  }

  /* Strict UTF-8 (RFC 8725 §3.7): no byte-order mark, no NUL (UTF-16/32 tell-tale), no invalid bytes. */
  function utf8Decode(bytes, what) {
    if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      throw new Rejection("not_utf8", "The " + what + " is not plain UTF-8 (a byte-order mark or UTF-16/32).");
    }
    if (bytes.indexOf(0) !== -1) {
      throw new Rejection("not_utf8", "The " + what + " is not plain UTF-8 (a byte-order mark or UTF-16/32).");
    }
    try {
      return new root.TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch (e) {
      throw new Rejection("not_utf8", "The " + what + " is not valid UTF-8.");
    }
  }

  /* ------------------------------------------------------------------ strict JSON */

  /*
   * A strict RFC 8259 parser. JSON.parse silently keeps the last of two duplicate names, which is the
   * very disagreement between parsers that checklist B.13 is about, so duplicates are an error here.
   * It also returns an indented copy of the text that keeps every literal exactly as received (large
   * integers are shown as sent, not rounded to a double).
   */
  function parseJson(text, what) {
    var i = 0;
    var out = [];
    var loneSurrogate = false;

    function fail(message) {
      throw new Rejection("malformed", "The " + what + " is not valid JSON (" + message + " at position " + i + ").");
    }
    function ws() {
      while (i < text.length) {
        var c = text.charCodeAt(i);
        if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
        else break;
      }
    }
    function indent(depth) {
      return "\n" + new Array(depth + 1).join("  ");
    }
    function parseString() {
      var start = i;
      i++; // opening quote
      var value = "";
      while (true) {
        if (i >= text.length) fail("unterminated string");
        var c = text[i];
        var code = text.charCodeAt(i);
        if (c === "\"") {
          i++;
          break;
        }
        if (code < 0x20) fail("control character in a string");
        if (c === "\\") {
          var e = text[i + 1];
          var simple = { "\"": "\"", "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
          if (e === "u") {
            var hex = text.substr(i + 2, 4);
            if (!/^[0-9A-Fa-f]{4}$/.test(hex)) fail("bad \\u escape");
            value += String.fromCharCode(parseInt(hex, 16));
            i += 6;
          } else if (Object.prototype.hasOwnProperty.call(simple, e)) {
            value += simple[e];
            i += 2;
          } else {
            fail("bad escape");
          }
        } else {
          value += c;
          i++;
        }
      }
      if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)) {
        loneSurrogate = true;
      }
      return { value: value, raw: text.slice(start, i) };
    }
    function parseNumber() {
      var re = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
      re.lastIndex = i;
      var m = re.exec(text);
      if (!m) fail("bad number");
      i += m[0].length;
      return { value: Number(m[0]), raw: m[0] };
    }
    function parseValue(depth) {
      ws();
      var c = text[i];
      if ((c === "{" || c === "[") && depth + 1 > MAX_DEPTH) {
        throw new Rejection("malformed", "The " + what + " nests deeper than " + MAX_DEPTH + " levels.");
      }
      if (c === "{") {
        i++;
        var obj = {};
        var seen = Object.create(null);
        out.push("{");
        ws();
        if (text[i] === "}") {
          i++;
          out.push("}");
          return obj;
        }
        var first = true;
        while (true) {
          ws();
          if (text[i] !== "\"") fail("expected a member name");
          var name = parseString();
          if (seen[name.value]) {
            throw new Rejection("duplicate_name",
              "The " + what + " contains the member " + JSON.stringify(name.value.slice(0, 40)) + " twice.");
          }
          seen[name.value] = true;
          out.push((first ? "" : ",") + indent(depth + 1) + name.raw + ": ");
          first = false;
          ws();
          if (text[i] !== ":") fail("expected ':'");
          i++;
          var value = parseValue(depth + 1);
          // defineProperty, not assignment: a member named "__proto__" stays an ordinary member.
          Object.defineProperty(obj, name.value, { value: value, enumerable: true, writable: true, configurable: true });
          ws();
          if (text[i] === ",") {
            i++;
            continue;
          }
          if (text[i] === "}") {
            i++;
            out.push(indent(depth) + "}");
            return obj;
          }
          fail("expected ',' or '}'");
        }
      }
      if (c === "[") {
        i++;
        var arr = [];
        out.push("[");
        ws();
        if (text[i] === "]") {
          i++;
          out.push("]");
          return arr;
        }
        while (true) {
          out.push((arr.length ? "," : "") + indent(depth + 1));
          arr.push(parseValue(depth + 1));
          ws();
          if (text[i] === ",") {
            i++;
            continue;
          }
          if (text[i] === "]") {
            i++;
            out.push(indent(depth) + "]");
            return arr;
          }
          fail("expected ',' or ']'");
        }
      }
      if (c === "\"") {
        var s = parseString();
        out.push(s.raw);
        return s.value;
      }
      if (c === "-" || (c >= "0" && c <= "9")) {
        var n = parseNumber();
        out.push(n.raw);
        return n.value;
      }
      var literals = { "true": true, "false": false, "null": null };
      for (var lit in literals) {
        if (text.substr(i, lit.length) === lit) {
          i += lit.length;
          out.push(lit);
          return literals[lit];
        }
      }
      fail(i >= text.length ? "unexpected end" : "unexpected character " + JSON.stringify(c));
    }

    var result = parseValue(0);
    ws();
    if (i !== text.length) fail("extra data after the value");
    return { value: result, pretty: out.join(""), loneSurrogate: loneSurrogate };
  }

  /* Strict UTF-8 → JSON without duplicates, NaN or lone surrogates → an object (verify.parse_json_object). */
  function parseJsonObject(bytes, what) {
    var text = utf8Decode(bytes, what);
    var parsed = parseJson(text, what);
    if (parsed.value === null || typeof parsed.value !== "object" || Array.isArray(parsed.value)) {
      var kind = parsed.value === null ? "null" : Array.isArray(parsed.value) ? "an array" : typeof parsed.value;
      throw new Rejection("malformed", "The " + what + " must be a JSON object, not " + kind + ".");
    }
    if (parsed.loneSurrogate) {
      throw new Rejection("not_utf8", "The " + what + " contains a lone UTF-16 surrogate.");
    }
    return { value: parsed.value, pretty: parsed.pretty, text: text };
  }

  function has(obj, name) {
    return obj !== null && typeof obj === "object" && Object.prototype.hasOwnProperty.call(obj, name);
  }

  /* ------------------------------------------------------------------ decoding */

  /*
   * Decode a compact JWS without verifying anything. Returns what could be read and, in `error`, the
   * first structural problem (the one verify_token would reject with before looking at any key).
   * Claims problems are reported apart (`claimsError`): a JWS payload need not be JSON (RFC 7515 A.4),
   * and verify_token parses the claims only after the signature.
   */
  function decode(input, options) {
    options = options || {};
    var maxSize = options.maxSize || MAX_SIZE;
    var result = {
      token: "", trimmed: false, parts: null, header: null, headerPretty: null, claims: null, claimsPretty: null,
      payloadText: null, payloadBytes: null, signature: null, error: null, claimsError: null
    };
    if (typeof input !== "string") {
      result.error = new Rejection("malformed", "The token must be a string.");
      return result;
    }
    var token = input.trim();
    result.trimmed = token !== input;
    result.token = token;
    if (token === "") {
      result.error = new Rejection("malformed", "Paste a token: there is nothing to decode.");
      return result;
    }
    if (token.length > maxSize) {
      result.error = new Rejection("too_large", "The token is " + token.length + " characters; the limit is " + maxSize + ".");
      return result;
    }
    if (!COMPACT.test(token)) {
      var dots = token.split(".").length - 1;
      if (/^bearer\s/i.test(token)) {
        result.error = new Rejection("malformed", "Remove the \"Bearer \" prefix: it belongs to the Authorization header, not to the token.");
      } else if (dots === 4) {
        result.error = new Rejection("malformed", "This is a five-segment JWE, not a signed JWT; it is not accepted.");
      } else if (dots !== 2) {
        result.error = new Rejection("malformed", "A compact JWS has three segments; this token has " + (dots + 1) + ".");
      } else {
        result.error = new Rejection("malformed",
          "The token has characters outside base64url (A-Z a-z 0-9 - _) or an empty segment.");
      }
      if (dots === 2) result.parts = token.split(".");
      return result;
    }
    var parts = token.split(".");
    result.parts = parts;
    try {
      var header;
      try {
        header = b64urlDecode(parts[0]);
      } catch (e) {
        throw new Rejection("malformed", "The header segment is " + e.message + ".");
      }
      var parsed = parseJsonObject(header, "header");
      result.header = parsed.value;
      result.headerPretty = parsed.pretty;
    } catch (e) {
      if (!(e instanceof Rejection)) throw e;
      result.error = e;
      return result;
    }
    try {
      result.payloadBytes = b64urlDecode(parts[1]);
    } catch (e) {
      result.error = new Rejection("malformed", "The payload segment is " + e.message + ".");
      return result;
    }
    try {
      result.signature = b64urlDecode(parts[2]);
    } catch (e) {
      result.error = new Rejection("malformed", "The signature segment is " + e.message + ".");
      return result;
    }
    try {
      var claims = parseJsonObject(result.payloadBytes, "claims");
      result.claims = claims.value;
      result.claimsPretty = claims.pretty;
      result.payloadText = claims.text;
    } catch (e) {
      if (!(e instanceof Rejection)) throw e;
      result.claimsError = e;
      try {
        result.payloadText = utf8Decode(result.payloadBytes, "payload");
      } catch (ignored) {
        result.payloadText = null;
      }
    }
    return result;
  }

  /* ------------------------------------------------------------------ time */

  /* Python's format(x, ".Nf"): toFixed, except exact ties round to even (toFixed rounds them up). */
  function fixed(x, digits) {
    var frac = x - Math.floor(x);
    if (digits === 0 && frac === 0.5) {
      var down = Math.floor(x);
      return String(down % 2 === 0 ? down : down + 1);
    }
    if (digits === 1 && (frac === 0.25 || frac === 0.75)) {
      var tenths = Math.floor(x * 10); // 1.25 -> 12 (tie between 12 and 13)
      var even = tenths % 2 === 0 ? tenths : tenths + 1;
      return (even / 10).toFixed(1);
    }
    return x.toFixed(digits);
  }

  /* Wording of `ts` relative to `reference`, exactly as jwtlab.clock.relative: "in 5 min", "3 h ago", "now". */
  function relative(ts, reference) {
    var delta = ts - reference;
    var seconds = Math.abs(delta);
    if (!(seconds >= 1)) return "now";
    var units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
    for (var k = 0; k < units.length; k++) {
      if (seconds >= units[k][1]) {
        var amount = seconds / units[k][1];
        var text = (amount >= 10 || amount === Math.trunc(amount) ? fixed(amount, 0) : fixed(amount, 1)) + " " + units[k][0];
        return delta > 0 ? "in " + text : text + " ago";
      }
    }
    return "now";
  }

  /* ISO 8601 UTC without milliseconds, as jwtlab.clock.iso: 2026-01-01T00:05:00Z. */
  function iso(ts) {
    var d = new Date(ts * 1000);
    if (isNaN(d.getTime())) return "(not a representable date)";
    return d.toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  /* Parse the page's "now": ISO 8601 in UTC (…Z or +00:00 offsets) or seconds since 1970. */
  function parseNow(text) {
    var t = String(text).trim();
    if (/^\d{1,12}(\.\d+)?$/.test(t)) return Number(t);
    var m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:Z|([+-])(\d{2}):?(\d{2}))$/.exec(t);
    if (!m) return null;
    var ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
    if (isNaN(ms)) return null;
    var offset = m[7] ? (m[7] === "+" ? 1 : -1) * (+m[8] * 3600 + +m[9] * 60) : 0;
    var check = new Date(ms);
    if (check.getUTCMonth() !== +m[2] - 1 || check.getUTCDate() !== +m[3]) return null; // 2026-02-31
    return ms / 1000 - offset;
  }

  function isNumericDate(v) {
    return typeof v === "number" && isFinite(v) && v >= 0 && v <= MAX_NUMERIC_DATE;
  }

  /* The time claims of a token, as dates and as "expires in 12 min" / "expired 3 h ago". */
  function describeTimes(claims, now) {
    var rows = [];
    var names = ["iat", "nbf", "exp"];
    for (var k = 0; k < names.length; k++) {
      var name = names[k];
      if (!has(claims, name)) continue;
      var v = claims[name];
      if (!isNumericDate(v)) {
        rows.push({ name: name, value: v, date: null, relative: null, text: "not a NumericDate (" + JSON.stringify(v) + ")" });
        continue;
      }
      var rel = relative(v, now);
      var text;
      if (name === "exp") text = v > now ? "expires " + rel : (rel === "now" ? "expired just now" : "expired " + rel);
      else if (name === "nbf") text = v > now ? "becomes valid " + rel : (rel === "now" ? "valid from now" : "valid since " + rel);
      else text = v > now && rel !== "now" ? "issued in the future (" + rel + ")" : (rel === "now" ? "issued now" : "issued " + rel);
      rows.push({ name: name, value: v, date: iso(v), relative: rel, text: text });
    }
    return rows;
  }

  /* ------------------------------------------------------------------ warnings */

  /* Things worth knowing before any key is involved; none of them is a verdict. */
  function warnings(decoded, options) {
    options = options || {};
    var now = typeof options.now === "number" ? options.now : Date.now() / 1000;
    var list = [];
    var h = decoded.header;
    var c = decoded.claims;
    function add(code, message) {
      list.push({ code: code, message: message });
    }
    if (h) {
      var alg = h.alg;
      if (typeof alg === "string" && alg.toLowerCase() === "none") {
        add("alg_none", "alg is \"" + alg + "\": the token is unsigned. Anyone can write it; no verifier may accept it.");
      } else if (typeof alg !== "string") {
        add("no_alg", "The header has no \"alg\" string.");
      } else if (!has(FAMILY, alg)) {
        add("unknown_alg", "alg \"" + alg + "\" is not a JWS algorithm this page (or the course) accepts.");
      }
      if (typeof alg === "string" && /^HS/.test(alg)) {
        add("hmac", "HMAC (" + alg + ") uses one shared secret: every service that can verify this token can also mint one. " +
          "Between services prefer a public-key algorithm (EdDSA, ES256, RS256, PS256).");
      }
      var proof = typeof h.typ === "string" && h.typ.toLowerCase() === "dpop+jwt";
      if (proof) {
        add("dpop_proof", "This is a DPoP proof (RFC 9449), not an access token: it names one request (htm, htu, iat, jti) " +
          "and carries the client's public key as jwk. It travels in the DPoP header beside a bound token, once.");
      }
      var keyHeaders = ["jku", "jwk", "x5u", "x5c"].filter(function (n) { return has(h, n) && !(proof && n === "jwk"); });
      if (keyHeaders.length) {
        add("key_in_header", "The header carries " + keyHeaders.join(", ") +
          ": a key or a key location chosen by whoever made the token. Never fetch or trust it.");
      }
      if (has(h, "crit") || has(h, "b64")) {
        add("crit", "The header has crit/b64: a verifier must reject extensions it does not implement.");
      }
      if (typeof h.kid === "string" && /\.\.|[\/\\'";|`$]|\s/.test(h.kid)) {
        add("kid_suspicious", "The kid " + JSON.stringify(h.kid.slice(0, 60)) +
          " looks like a path, a query or a command (kid injection). A kid is only a lookup key.");
      }
    }
    if (c) {
      if (c.cnf !== null && typeof c.cnf === "object" && typeof c.cnf.jkt === "string") {
        add("dpop_bound", "The token is DPoP-bound (cnf.jkt): it is accepted only with a fresh proof signed by the key " +
          "with that thumbprint, so a copy without the key is useless.");
      }
      var isProof = h && typeof h.typ === "string" && h.typ.toLowerCase() === "dpop+jwt";
      if (!has(c, "exp") && !isProof) {
        add("no_exp", "No exp claim: this token never expires. A stolen copy works forever.");
      } else if (isNumericDate(c.exp)) {
        var lifetime = isNumericDate(c.iat) ? c.exp - c.iat : null;
        if (lifetime !== null && lifetime > 3600) {
          add("long_lifetime", "The token lives " + relative(lifetime, 0).replace(/^in /, "") +
            " (exp − iat). Access tokens usually live 5–15 min and are refreshed.");
        } else if (lifetime === null && c.exp - now > 86400) {
          add("long_lifetime", "The token is valid for another " + relative(c.exp, now).replace(/^in /, "") + ".");
        }
      }
    }
    return list;
  }

  /* ------------------------------------------------------------------ claim checks */

  /*
   * Every claim rule of verify_token, each reported on its own (passed, failed, or skipped with why).
   * `reason` is the first failure in verify_token's order, which is the order of `checks`.
   */
  function checkClaims(claims, options) {
    options = options || {};
    var now = typeof options.now === "number" ? options.now : Date.now() / 1000;
    var leeway = typeof options.leeway === "number" ? options.leeway : 60;
    var required = options.required || DEFAULT_REQUIRED;
    var issuer = options.issuer || null;
    var audience = options.audience || null;
    var checks = [];
    function check(id, label, status, reason, message) {
      var d = reason ? describe(reason) : null;
      checks.push({ id: id, label: label, status: status, reason: reason || null, message: message, fix: d ? d.fix : "" });
    }
    var shown = function (v) {
      var s = JSON.stringify(v);
      return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "…" : s;
    };

    var missing = required.filter(function (n) { return !has(claims, n); });
    if (missing.length) {
      check("required", "Required claims present", "fail", "missing_claim",
        "The required claim " + shown(missing[0]) + " is missing" + (missing.length > 1 ? " (also: " + missing.slice(1).join(", ") + ")." : "."));
    } else {
      check("required", "Required claims present", "pass", null,
        required.length ? "All of " + required.join(", ") + " are present." : "No claim is required.");
    }

    var badTimes = ["exp", "nbf", "iat"].filter(function (n) { return has(claims, n) && !isNumericDate(claims[n]); });
    var badStrings = ["iss", "sub", "jti"].filter(function (n) {
      return has(claims, n) && !(typeof claims[n] === "string" && claims[n] !== "");
    });
    var audBad = false;
    if (has(claims, "aud")) {
      var a = claims.aud;
      var auds = typeof a === "string" ? [a] : a;
      audBad = !Array.isArray(auds) || auds.length === 0 || !auds.every(function (x) { return typeof x === "string" && x !== ""; });
    }
    if (badTimes.length) {
      check("types", "Claim types", "fail", "bad_claim_type", "The " + shown(badTimes[0]) +
        " claim must be a number of seconds since 1970, not " + shown(claims[badTimes[0]]) + ".");
    } else if (badStrings.length) {
      check("types", "Claim types", "fail", "bad_claim_type", "The " + shown(badStrings[0]) +
        " claim must be a non-empty string, not " + shown(claims[badStrings[0]]) + ".");
    } else if (audBad) {
      check("types", "Claim types", "fail", "bad_claim_type", "The 'aud' claim must be a string or a non-empty list of strings.");
    } else {
      check("types", "Claim types", "pass", null, "Times are numbers; iss, sub, jti are non-empty strings; aud is a string or a list of strings.");
    }

    if (issuer === null) {
      check("issuer", "Issuer (iss)", "skip", null, "No expected issuer given: a real service always pins its issuer.");
    } else if (claims.iss !== issuer || !has(claims, "iss")) {
      check("issuer", "Issuer (iss)", "fail", "issuer", "The issuer " + shown(claims.iss) +
        " is not the trusted issuer " + shown(issuer) + " (exact, character-for-character match).");
    } else {
      check("issuer", "Issuer (iss)", "pass", null, "iss is exactly " + shown(issuer) + ".");
    }

    if (audience === null) {
      check("audience", "Audience (aud)", "skip", null, "No expected audience given: a real service always requires its own name in aud.");
    } else {
      var aud = has(claims, "aud") ? claims.aud : undefined;
      var list = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
      if (list.indexOf(audience) === -1) {
        check("audience", "Audience (aud)", "fail", "audience", "The token is not meant for " + shown(audience) +
          " (aud = " + shown(aud === undefined ? null : aud) + ").");
      } else {
        check("audience", "Audience (aud)", "pass", null, "aud names " + shown(audience) + ".");
      }
    }

    function timeCheck(id, label, name, failsIf, reason, failText, passText) {
      if (!has(claims, name)) {
        check(id, label, "skip", null, "No " + name + " claim.");
      } else if (!isNumericDate(claims[name])) {
        check(id, label, "skip", null, "Cannot be checked: " + name + " is not a NumericDate.");
      } else if (failsIf(claims[name])) {
        check(id, label, "fail", reason, failText(claims[name]));
      } else {
        check(id, label, "pass", null, passText(claims[name]));
      }
    }
    var lw = " (leeway " + leeway + " s)";
    timeCheck("exp", "Not expired (exp)", "exp", function (v) { return v <= now - leeway; }, "expired",
      function (v) { return "The token expired " + relative(v, now) + lw + "."; },
      function (v) { return (v > now ? "Expires " + relative(v, now) : "Expired " + relative(v, now) + ", within the leeway") + lw + "."; });
    timeCheck("nbf", "Already valid (nbf)", "nbf", function (v) { return v > now + leeway; }, "not_yet_valid",
      function (v) { return "The token becomes valid only " + relative(v, now) + lw + "."; },
      function (v) { return "Valid since " + relative(v, now) + lw + "."; });
    timeCheck("iat", "Issued in the past (iat)", "iat", function (v) { return v > now + leeway; }, "issued_in_future",
      function (v) { return "The token claims to be issued " + relative(v, now) + lw + "."; },
      function (v) { return "Issued " + relative(v, now) + "."; });

    if (typeof options.maxLifetime === "number") {
      if (!isNumericDate(claims.exp) || !isNumericDate(claims.iat)) {
        check("lifetime", "Lifetime (exp − iat)", "fail", "missing_claim", "A maximum lifetime is enforced, so 'exp' and 'iat' are both required.");
      } else if (claims.exp - claims.iat > options.maxLifetime) {
        check("lifetime", "Lifetime (exp − iat)", "fail", "lifetime_too_long", "The token lives " + (claims.exp - claims.iat) +
          " s; the limit is " + options.maxLifetime + " s.");
      } else {
        check("lifetime", "Lifetime (exp − iat)", "pass", null, "The token lives " + (claims.exp - claims.iat) + " s.");
      }
    }

    var first = null;
    for (var k = 0; k < checks.length; k++) {
      if (checks[k].status === "fail") {
        first = checks[k];
        break;
      }
    }
    return { ok: first === null, reason: first ? first.reason : null, message: first ? first.message : "", checks: checks };
  }

  /* ------------------------------------------------------------------ keys */

  function derReader(bytes) {
    var pos = 0;
    function read() {
      if (pos + 2 > bytes.length) throw new KeyInputError("The key is not valid DER (truncated).");
      var tag = bytes[pos++];
      var len = bytes[pos++];
      if (len & 0x80) {
        var n = len & 0x7f;
        if (n < 1 || n > 3 || pos + n > bytes.length) throw new KeyInputError("The key is not valid DER (length).");
        len = 0;
        for (var k = 0; k < n; k++) len = len * 256 + bytes[pos++];
      }
      if (pos + len > bytes.length) throw new KeyInputError("The key is not valid DER (truncated).");
      var content = bytes.subarray(pos, pos + len);
      pos += len;
      return { tag: tag, content: content };
    }
    return { read: read, done: function () { return pos >= bytes.length; } };
  }

  function hex(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return s;
  }

  var OIDS = {
    "2a864886f70d010101": "RSA",
    "2a8648ce3d0201": "EC",
    "2b6570": "Ed25519",
    "2b6571": "Ed448",
    "2a864886f70d01010a": "RSASSA-PSS"
  };
  var CURVES = { "2a8648ce3d030107": "P-256", "2b81040022": "P-384", "2b81040023": "P-521" };

  /* The key family of a SubjectPublicKeyInfo, read from its AlgorithmIdentifier. */
  function spkiFamily(der) {
    var outer = derReader(der).read();
    if (outer.tag !== 0x30) throw new KeyInputError("The PEM is not a SubjectPublicKeyInfo.");
    var inner = derReader(outer.content);
    var algId = inner.read();
    var bitString = inner.read();
    if (algId.tag !== 0x30 || bitString.tag !== 0x03) throw new KeyInputError("The PEM is not a SubjectPublicKeyInfo.");
    var alg = derReader(algId.content);
    var oid = alg.read();
    var kind = OIDS[hex(oid.content)];
    if (kind === "RSA") {
      var rsa = derReader(derReader(bitString.content.subarray(1)).read().content);
      var modulus = rsa.read().content;
      var bits = (modulus.length - (modulus[0] === 0 ? 1 : 0)) * 8;
      return { family: "RSA", detail: "RSA public key (" + bits + " bits)" };
    }
    if (kind === "EC") {
      var curve = alg.done() ? null : CURVES[hex(alg.read().content)];
      if (!curve) throw new KeyInputError("This EC public key uses a curve JWS does not use (only P-256, P-384, P-521).");
      return { family: "EC:" + curve, detail: "EC public key on " + curve };
    }
    if (kind === "Ed25519") return { family: "OKP", detail: "Ed25519 public key" };
    if (kind === "Ed448") throw new KeyInputError("Ed448 keys are not supported here (browsers verify Ed25519 only).");
    if (kind === "RSASSA-PSS") throw new KeyInputError("This RSA key is marked RSASSA-PSS only; paste it as a plain RSA (rsaEncryption) SPKI key.");
    throw new KeyInputError("The public key's algorithm (OID " + hex(oid.content) + ") is not one JWS uses.");
  }

  function familiesAlgs(family) {
    return ALGORITHMS.filter(function (a) { return FAMILY[a] === family; });
  }

  var PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth"];

  function jwkEntry(jwk, where) {
    if (jwk === null || typeof jwk !== "object" || Array.isArray(jwk)) throw new KeyInputError(where + " is not a JSON object.");
    var alg = has(jwk, "alg") ? jwk.alg : null;
    if (alg !== null && !has(FAMILY, alg)) throw new KeyInputError(where + ": JWK alg " + JSON.stringify(alg) + " is not supported.");
    var kid = has(jwk, "kid") ? jwk.kid : null;
    if (kid !== null && typeof kid !== "string") throw new KeyInputError(where + ": JWK kid must be a string.");
    var kty = jwk.kty;
    var label = kid !== null ? " (kid " + JSON.stringify(kid) + ")" : "";
    if (kty === "oct") {
      if (typeof jwk.k !== "string") throw new KeyInputError(where + ": an oct JWK needs a \"k\" string.");
      var secret;
      try {
        secret = b64urlDecode(jwk.k);
      } catch (e) {
        throw new KeyInputError(where + ": \"k\" is " + e.message + ".");
      }
      return { kid: kid, alg: alg, family: "oct", secret: secret, detail: "HMAC secret from an oct JWK, " + secret.length + " bytes" + label };
    }
    if (kty === "RSA" || kty === "EC" || kty === "OKP") {
      if (PRIVATE_MEMBERS.some(function (m) { return has(jwk, m); })) {
        throw new KeyInputError(where + " contains private key members (\"d\"…): a verifier needs the public key only. " +
          "Never paste a private key into a web page; remove the private members.");
      }
      var pub;
      var family;
      var detail;
      if (kty === "RSA") {
        if (typeof jwk.n !== "string" || typeof jwk.e !== "string") throw new KeyInputError(where + ": an RSA JWK needs \"n\" and \"e\".");
        pub = { kty: "RSA", n: jwk.n, e: jwk.e };
        family = "RSA";
        var nBytes;
        try {
          nBytes = b64urlDecode(jwk.n);
        } catch (e) {
          throw new KeyInputError(where + ": \"n\" is " + e.message + ".");
        }
        detail = "RSA public key (" + (nBytes.length - (nBytes[0] === 0 ? 1 : 0)) * 8 + " bits)";
      } else if (kty === "EC") {
        if (["P-256", "P-384", "P-521"].indexOf(jwk.crv) === -1) throw new KeyInputError(where + ": EC curve " + JSON.stringify(jwk.crv) + " is not supported.");
        pub = { kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y };
        family = "EC:" + jwk.crv;
        detail = "EC public key on " + jwk.crv;
      } else {
        if (jwk.crv !== "Ed25519") throw new KeyInputError(where + ": OKP curve " + JSON.stringify(jwk.crv) + " is not supported (Ed25519 only).");
        pub = { kty: "OKP", crv: "Ed25519", x: jwk.x };
        family = "OKP";
        detail = "Ed25519 public key";
      }
      return { kid: kid, alg: alg, family: family, jwk: pub, detail: detail + (alg ? ", bound to " + alg : "") + label };
    }
    throw new KeyInputError(where + ": JWK kty " + JSON.stringify(kty) + " is not supported.");
  }

  /*
   * Interpret the pasted key material. The kind of key decides the algorithm family, never the token:
   * a PEM SubjectPublicKeyInfo, a JWK, a JWKS, or else an HMAC secret (text as UTF-8, or base64url).
   * Returns {kind, entries: [{kid, alg, family, ...}], description}; throws KeyInputError.
   */
  function parseKey(text, options) {
    options = options || {};
    var t = String(text || "").trim();
    if (t === "") throw new KeyInputError("Paste a key: a secret, a PEM public key, a JWK or a JWKS.");
    var pem = /^-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]*?)\s*-----END \1-----$/.exec(t);
    if (/^-----BEGIN/.test(t)) {
      if (!pem) throw new KeyInputError("The PEM block is incomplete or damaged (BEGIN/END lines must match).");
      var label = pem[1];
      if (/PRIVATE KEY/.test(label)) {
        throw new KeyInputError("This is a private key. A verifier needs only the public key — and a private key never belongs in a web page.");
      }
      if (label === "RSA PUBLIC KEY") {
        throw new KeyInputError("This is a PKCS#1 RSA key; convert it to SPKI first: openssl rsa -RSAPublicKey_in -in key.pem -pubout");
      }
      if (label === "CERTIFICATE") {
        throw new KeyInputError("This is a certificate; paste its public key instead: openssl x509 -in cert.pem -pubkey -noout");
      }
      if (label !== "PUBLIC KEY") throw new KeyInputError("Unsupported PEM block \"" + label + "\"; paste a \"PUBLIC KEY\" (SPKI).");
      var der = b64StdDecode(pem[2].replace(/\s+/g, ""));
      var info = spkiFamily(der);
      return { kind: "spki", description: info.detail + " (PEM, SubjectPublicKeyInfo)",
        entries: [{ kid: null, alg: null, family: info.family, spki: der, detail: info.detail }] };
    }
    if (t[0] === "{") {
      var parsed;
      try {
        parsed = parseJson(t, "key").value;
      } catch (e) {
        throw new KeyInputError("The key looks like JSON but is not valid JSON: " + e.message);
      }
      if (has(parsed, "keys")) {
        if (!Array.isArray(parsed.keys)) throw new KeyInputError("A JWKS needs a \"keys\" list.");
        if (!parsed.keys.length) throw new KeyInputError("The JWKS is empty: a verifier with no keys can verify nothing.");
        var entries = parsed.keys.map(function (k, n) { return jwkEntry(k, "JWKS key #" + (n + 1)); });
        return { kind: "jwks", entries: entries, description: "JWKS with " + entries.length + " key" + (entries.length === 1 ? "" : "s") };
      }
      var entry = jwkEntry(parsed, "The JWK");
      return { kind: "jwk", entries: [entry], description: entry.detail + " (JWK)" };
    }
    if (/^ssh-|^ecdsa-sha2-/.test(t)) {
      throw new KeyInputError("An OpenSSH public key is not an HMAC secret (that mistake is algorithm confusion). Paste it as PEM (ssh-keygen -e -m PKCS8).");
    }
    var secret;
    if (options.secretEncoding === "base64url") {
      try {
        secret = b64urlDecode(t);
      } catch (e) {
        throw new KeyInputError("The secret is " + e.message + ".");
      }
    } else {
      secret = utf8Encode(t);
    }
    return { kind: "secret", description: "HMAC secret, " + secret.length + " bytes (" + (options.secretEncoding === "base64url" ? "base64url" : "UTF-8 text") + ")",
      entries: [{ kid: null, alg: null, family: "oct", secret: secret, detail: "HMAC secret" }] };
  }

  /* The algorithms a parsed key allows, before any token is seen (JWK "alg" pins one). */
  function allowedAlgorithms(key) {
    var out = [];
    key.entries.forEach(function (e) {
      (e.alg ? [e.alg] : familiesAlgs(e.family)).forEach(function (a) {
        if (out.indexOf(a) === -1) out.push(a);
      });
    });
    return ALGORITHMS.filter(function (a) { return out.indexOf(a) !== -1; });
  }

  /* Keys that may verify a token with this kid: an exact match, else keys without a kid (KeySet.candidates). */
  function candidates(key, kid) {
    var byKid = key.entries.filter(function (e) { return kid !== null && kid !== undefined && e.kid === kid; });
    if (byKid.length) return byKid;
    var unkeyed = key.entries.filter(function (e) { return e.kid === null; });
    if (kid !== null && kid !== undefined) return unkeyed;
    return key.entries.slice();
  }

  /* ------------------------------------------------------------------ signatures (WebCrypto) */

  function subtle() {
    var c = root.crypto;
    if (!c || !c.subtle) {
      throw new Rejection("malformed", "This browser offers no WebCrypto here (it needs https, localhost or a local file).");
    }
    return c.subtle;
  }

  function importParams(alg, entry) {
    var bits = alg.slice(2);
    if (alg === "EdDSA") return { import: { name: "Ed25519" }, verify: { name: "Ed25519" } };
    if (/^HS/.test(alg)) return { import: { name: "HMAC", hash: HASH[bits] }, verify: { name: "HMAC" } };
    if (/^RS/.test(alg)) return { import: { name: "RSASSA-PKCS1-v1_5", hash: HASH[bits] }, verify: { name: "RSASSA-PKCS1-v1_5" } };
    if (/^PS/.test(alg)) {
      return { import: { name: "RSA-PSS", hash: HASH[bits] }, verify: { name: "RSA-PSS", saltLength: Number(bits) / 8 } };
    }
    var curve = entry.family.slice(3);
    return { import: { name: "ECDSA", namedCurve: curve }, verify: { name: "ECDSA", hash: HASH[bits] } };
  }

  var EC_SIGNATURE_BYTES = { ES256: 64, ES384: 96, ES512: 132 };

  async function verifyWith(alg, entry, signingInput, signature) {
    var s = subtle();
    var p = importParams(alg, entry);
    if (EC_SIGNATURE_BYTES[alg] && signature.length !== EC_SIGNATURE_BYTES[alg]) return false;
    var cryptoKey;
    if (entry.family === "oct") cryptoKey = await s.importKey("raw", entry.secret, p.import, false, ["verify"]);
    else if (entry.spki) cryptoKey = await s.importKey("spki", entry.spki, p.import, false, ["verify"]);
    else cryptoKey = await s.importKey("jwk", Object.assign({ ext: true }, entry.jwk), p.import, false, ["verify"]);
    return s.verify(p.verify, cryptoKey, signature, signingInput);
  }

  /*
   * Check shape, header and signature only, in verify_signature's order. `key` is parseKey's result;
   * `options.algorithms` the allowlist (default: every algorithm the key allows).
   * Resolves to {ok, reason, message, fix, alg, kid, keyDetail, note}.
   */
  async function verifySignature(decoded, key, options) {
    options = options || {};
    function result(ok, reason, message, extra) {
      var r = { ok: ok, reason: reason || null, message: message, fix: reason ? describe(reason).fix : "" };
      return Object.assign(r, extra || {});
    }
    if (decoded.error && !decoded.header) return result(false, decoded.error.reason, decoded.error.message);
    var header = decoded.header;
    var allowed = (options.algorithms && options.algorithms.length ? options.algorithms : allowedAlgorithms(key))
      .filter(function (a) { return has(FAMILY, a); });
    var alg = header.alg;
    if (typeof alg !== "string") return result(false, "malformed", "The header has no 'alg' string.");
    if (alg.toLowerCase() === "none") {
      return result(false, "alg_not_allowed", "Unsigned tokens (alg " + JSON.stringify(alg) + ") are never accepted.");
    }
    if (allowed.indexOf(alg) === -1) {
      return result(false, "alg_not_allowed", "The algorithm " + JSON.stringify(alg.slice(0, 20)) +
        " is not in the allowlist [" + allowed.join(", ") + "] that this key permits.");
    }
    if (has(header, "crit") || has(header, "b64")) {
      return result(false, "crit_unsupported", "The header lists critical extensions ('crit'/'b64') this verifier does not implement.");
    }
    var forbidden = FORBIDDEN_HEADERS.filter(function (n) { return has(header, n); });
    if (forbidden.length) {
      return result(false, "forbidden_header", "The header carries " + forbidden.join(", ") + "; keys come only from the trusted key set.");
    }
    var kid = has(header, "kid") ? header.kid : null;
    if (kid !== null && typeof kid !== "string") return result(false, "malformed", "The header's 'kid' must be a string.");
    var cands = candidates(key, kid);
    if (!cands.length) return result(false, "kid_unknown", "No trusted key has kid " + JSON.stringify(kid.slice(0, 64)) + ".");
    var usable = cands.filter(function (e) { return e.family === FAMILY[alg] && (e.alg === null || e.alg === alg); });
    if (!usable.length) {
      var bound = cands.map(function (e) { return e.alg || e.family; }).filter(function (v, n, a) { return a.indexOf(v) === n; }).sort();
      return result(false, "alg_not_allowed", "The token says " + alg + ", but the trusted key for it is bound to " + bound.join(", ") + ".");
    }
    if (decoded.error) return result(false, decoded.error.reason, decoded.error.message);
    var signingInput = utf8Encode(decoded.parts[0] + "." + decoded.parts[1]);
    if (FAMILY[alg] === "oct") {
      var strong = usable.filter(function (e) { return e.secret.length >= MIN_HMAC_BYTES[alg]; });
      if (!strong.length) {
        var wouldMatch = false;
        for (var w = 0; w < usable.length && usable[w].secret.length; w++) {
          if (await verifyWith(alg, usable[w], signingInput, decoded.signature)) wouldMatch = true;
        }
        return result(false, "weak_key", "The HMAC secret is shorter than " + MIN_HMAC_BYTES[alg] * 8 +
          " bits; refusing to use it." + (wouldMatch ? " (The signature does match this secret — which is how easily a weak secret is guessed.)" : ""));
      }
      usable = strong;
    }
    for (var k = 0; k < usable.length; k++) {
      var ok;
      try {
        ok = await verifyWith(alg, usable[k], signingInput, decoded.signature);
      } catch (e) {
        return result(false, "malformed", "The browser could not use this key for " + alg + " (" + (e && e.name ? e.name : "error") + ").");
      }
      if (ok) return result(true, null, "The signature is valid: " + alg + " with " + usable[k].detail + ".", { alg: alg, kid: kid, keyDetail: usable[k].detail });
    }
    return result(false, "bad_signature", "The signature does not verify with the trusted key.", { alg: alg, kid: kid });
  }

  /*
   * The whole verdict, as verify_token reaches it: signature first, then the claims. For learning,
   * the claim checks are listed even when the signature fails (a real verifier stops at the first
   * failure and never tells a forger which claims would have passed).
   */
  async function verify(token, keyText, options) {
    options = options || {};
    var decoded = typeof token === "string" ? decode(token, options) : token;
    var key;
    try {
      key = typeof keyText === "string" ? parseKey(keyText, options) : keyText;
    } catch (e) {
      if (!(e instanceof KeyInputError)) throw e;
      return { decoded: decoded, keyError: e.message, signature: null, claims: null,
        verdict: { ok: false, reason: null, message: e.message } };
    }
    var signature;
    try {
      signature = await verifySignature(decoded, key, options);
    } catch (e) {
      if (e instanceof Rejection) signature = { ok: false, reason: e.reason, message: e.message, fix: describe(e.reason).fix };
      else signature = { ok: false, reason: "malformed", message: "The token could not be processed (" + (e && e.name) + ").", fix: describe("malformed").fix };
    }
    var claims = null;
    if (decoded.claims) claims = checkClaims(decoded.claims, options);
    var verdict;
    if (!signature.ok) verdict = { ok: false, reason: signature.reason, message: signature.message };
    else if (decoded.claimsError) verdict = { ok: false, reason: decoded.claimsError.reason, message: decoded.claimsError.message };
    else if (!claims.ok) verdict = { ok: false, reason: claims.reason, message: claims.message };
    else verdict = { ok: true, reason: null, message: "Signature and claims are valid for these settings." };
    return { decoded: decoded, key: { kind: key.kind, description: key.description }, signature: signature,
      claims: claims, claimsError: decoded.claimsError, verdict: verdict };
  }

  root.JwtDecoder = {
    MAX_SIZE: MAX_SIZE,
    ALGORITHMS: ALGORITHMS,
    FAMILY: FAMILY,
    REASON_CODES: REASON_CODES,
    DEFAULT_REQUIRED: DEFAULT_REQUIRED,
    Rejection: Rejection,
    KeyInputError: KeyInputError,
    describe: describe,
    b64urlEncode: b64urlEncode,
    b64urlDecode: b64urlDecode,
    utf8Decode: utf8Decode,
    parseJson: parseJson,
    parseJsonObject: parseJsonObject,
    decode: decode,
    relative: relative,
    iso: iso,
    parseNow: parseNow,
    describeTimes: describeTimes,
    warnings: warnings,
    checkClaims: checkClaims,
    parseKey: parseKey,
    allowedAlgorithms: allowedAlgorithms,
    verifySignature: verifySignature,
    verify: verify
  };
})(typeof window !== "undefined" ? window : globalThis);
