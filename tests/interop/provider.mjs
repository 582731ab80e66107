// A certified OpenID provider (the oidc-provider package) on loopback, for the interop tests.
//
// Why a real provider: the course's own IdP and verifier were written together, so they could share a
// misreading of the RFCs. This one was written by other people and certified by the OpenID Foundation.
//
// Setup: one client with the client credentials grant; one resource server per signing algorithm
// (RS256, ES256, EdDSA), each with a JWT access token format (RFC 9068, typ at+jwt) and its own audience.
// The provider makes its own keys (TEST KEYS, made fresh on every start, never kept).
//
// Protocol with the parent process (one JSON object per line):
//   stdout, once:  {"issuer": "http://127.0.0.1:PORT", "kids": {...}}
//   stdin "rotate" -> stdout {"rotated": true, "kids": {...}, "retired": {...}}
//     A rotation makes a new key per algorithm, publishes it next to the previous one (tokens already
//     issued stay verifiable) and signs with the new one from the next token on. The process and its
//     port stay the same: only the provider object behind the HTTP server is swapped.
//   stdin closed -> the process exits (so a crashed test run leaves no provider behind).
import http from 'node:http';
import crypto from 'node:crypto';
import readline from 'node:readline';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

export const CLIENT_ID = 'interop-client';
export const CLIENT_SECRET = 'interop-client-secret-test-only-0123456789';
export const SCOPE = 'orders:read';
const ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];

// stdout carries the protocol only: the library's notices go to stderr.
console.log = console.info = console.warn;
export const resourceFor = (alg) => `urn:jwtlab:interop:${alg.toLowerCase()}`;
// A resource server that gets opaque access tokens (a random string; its claims only by introspection).
export const OPAQUE_RESOURCE = 'urn:jwtlab:interop:opaque';

// Keys in generations: the newest signs, the previous one is still published for verification.
const generations = [];

async function makeGeneration() {
  const keys = {};
  for (const alg of ALGORITHMS) {
    const options = { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) };
    const { privateKey } = await jose.generateKeyPair(alg, options);
    const jwk = await jose.exportJWK(privateKey);
    jwk.kid = await jose.calculateJwkThumbprint(jwk);
    jwk.alg = alg;
    jwk.use = 'sig';
    keys[alg] = jwk;
  }
  return keys;
}

const kidsOf = (generation) => Object.fromEntries(ALGORITHMS.map((alg) => [alg, generation[alg].kid]));

function buildProvider(issuer) {
  const [current, previous] = generations;
  const published = [current, previous].filter(Boolean).flatMap((g) => ALGORITHMS.map((alg) => g[alg]));
  const byResource = Object.fromEntries(ALGORITHMS.map((alg) => [resourceFor(alg), alg]));
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: published },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 9449: a token request with a DPoP proof gets a token bound to the proof's key (cnf.jkt).
      dPoP: { enabled: true },
      // RFC 7662, for the phantom-token gateway: opaque tokens of the "opaque" resource are looked up here.
      introspection: { enabled: true },
      revocation: { enabled: true },
      // book: resource servers
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resourceFor('EdDSA'),
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator === OPAQUE_RESOURCE) {
            return {
              scope: SCOPE,
              audience: resourceIndicator,
              accessTokenTTL: 300,
              accessTokenFormat: 'opaque',
            };
          }
          const alg = byResource[resourceIndicator];
          if (!alg) throw new errors.InvalidTarget();
          return {
            scope: SCOPE,
            audience: resourceIndicator,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            // The kid picks the newest generation's key:
            // the rotation switches signing keys here.
            jwt: { sign: { alg, kid: generations[0][alg].kid } },
          };
        },
      },
      // book: end resource servers
    },
    scopes: [SCOPE],
    ttl: { ClientCredentials: 300 },
  });
  provider.on('server_error', (ctx, error) => process.stderr.write(`server_error: ${error.message}\n`));
  return provider;
}

async function main() {
  generations.unshift(await makeGeneration());
  let handler = (req, res) => { res.statusCode = 503; res.end(); };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  handler = buildProvider(issuer).callback();
  process.stdout.write(`${JSON.stringify({ issuer, kids: kidsOf(generations[0]) })}\n`);

  const lines = readline.createInterface({ input: process.stdin });
  // book: rotation
  lines.on('line', async (line) => {
    if (line.trim() !== 'rotate') {
      process.stdout.write(`${JSON.stringify({ error: 'unknown command' })}\n`);
      return;
    }
    generations.unshift(await makeGeneration());
    // the generation before the previous one is no longer published
    generations.length = 2;
    handler = buildProvider(issuer).callback();
    const rotated = {
      rotated: true,
      kids: kidsOf(generations[0]),
      retired: kidsOf(generations[1]),
    };
    process.stdout.write(`${JSON.stringify(rotated)}\n`);

  });
  // book: end rotation
  lines.on('close', () => { server.closeAllConnections(); process.exit(0); });
}

main().catch((error) => {
  process.stderr.write(`provider failed to start: ${error.stack}\n`);
  process.exit(1);
});
