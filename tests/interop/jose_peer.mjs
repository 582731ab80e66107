// The jose library as a peer for the interop tests: one long-lived process, one JSON request per line on
// stdin, one JSON answer per line on stdout (so a whole test matrix costs a single Node.js start).
//
//   {"op": "sign", "alg": "ES256", "jwk": {...private or oct JWK...}, "header": {...}, "claims": {...}}
//     -> {"token": "..."}
//   {"op": "verify", "alg": "ES256", "jwk": {...public or oct JWK...}, "token": "...",
//    "issuer": "...", "audience": "..."}
//     -> {"ok": true, "claims": {...}, "header": {...}}  or  {"ok": false, "code": "ERR_..."}
//   {"op": "verify_remote", "alg": "ES256", "jwks_url": "http://127.0.0.1:...", "token": "...",
//    "issuer": "...", "audience": "...", "typ": "at+jwt"}   (keys from a JWKS URL, loopback only)
//     -> as for verify
//   {"op": "verify_dpop", "alg": "ES256", "token": "..."}   (a DPoP proof, key from its own jwk header)
//     -> {"ok": true, "claims": {...}, "jkt": "..."}  or  {"ok": false, "code": "ERR_..."}
//   {"op": "versions"} -> {"jose": "x.y.z", "node": "vX"}
//
// A rejection answers with jose's own error code, never with the token.
import { readFileSync } from 'node:fs';
import readline from 'node:readline';

import * as jose from 'jose';

const joseVersion = JSON.parse(
  readFileSync(new URL('./node_modules/jose/package.json', import.meta.url), 'utf8'),
).version;

async function handle(request) {
  switch (request.op) {
    case 'sign': {
      const key = await jose.importJWK(request.jwk, request.alg);
      const token = await new jose.SignJWT(request.claims)
        .setProtectedHeader({ ...request.header, alg: request.alg })
        .sign(key);
      return { token };
    }
    case 'verify': {
      try {
        const key = await jose.importJWK(request.jwk, request.alg);
        const { payload, protectedHeader } = await jose.jwtVerify(request.token, key, {
          algorithms: [request.alg],
          issuer: request.issuer,
          audience: request.audience,
        });
        return { ok: true, claims: payload, header: protectedHeader };
      } catch (error) {
        return { ok: false, code: error.code ?? error.name };
      }
    }
    case 'verify_remote': {
      if (!request.jwks_url.startsWith('http://127.0.0.1:')) return { ok: false, code: 'NOT_LOOPBACK' };
      try {
        const keys = jose.createRemoteJWKSet(new URL(request.jwks_url), { timeoutDuration: 5000 });
        const { payload, protectedHeader } = await jose.jwtVerify(request.token, keys, {
          algorithms: [request.alg],
          issuer: request.issuer,
          audience: request.audience,
          typ: request.typ,
        });
        return { ok: true, claims: payload, header: protectedHeader };
      } catch (error) {
        return { ok: false, code: error.code ?? error.name };
      }
    }
    case 'verify_dpop': {
      // A DPoP proof (RFC 9449): verified with the public key it carries, as a resource server would.
      try {
        const { payload, protectedHeader } = await jose.jwtVerify(request.token, jose.EmbeddedJWK, {
          algorithms: [request.alg],
          typ: 'dpop+jwt',
        });
        const jkt = await jose.calculateJwkThumbprint(protectedHeader.jwk);
        return { ok: true, claims: payload, jkt };
      } catch (error) {
        return { ok: false, code: error.code ?? error.name };
      }
    }
    case 'versions':
      return { jose: joseVersion, node: process.version };
    default:
      return { error: `unknown op ${JSON.stringify(request.op)}` };
  }
}

const lines = readline.createInterface({ input: process.stdin });
// Answers are written in request order: each line waits for the one before it.
let previous = Promise.resolve();
lines.on('line', (line) => {
  previous = previous.then(async () => {
    let answer;
    try {
      answer = await handle(JSON.parse(line));
    } catch (error) {
      answer = { error: error.code ?? error.name };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  });
});
lines.on('close', () => previous.then(() => process.exit(0)));
