// Smoke test of idp.mjs: a full authorization-code + PKCE flow with the claims parameter,
// followed as plain redirects; the ID token is verified with jose against the JWKS.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const REDIRECT = 'http://127.0.0.1:1/callback';
const b64 = (buf) => buf.toString('base64url');

async function start(args = []) {
  const child = spawn(process.execPath, ['idp.mjs', '--port', '0', '--redirect-uri', REDIRECT, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  return { child, ...JSON.parse(line) };
}

// Follows redirects by hand, keeping cookies, until one goes to the client's redirect URI.
async function authorize(issuer, params) {
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  const jar = new Map();
  let url = `${discovery.authorization_endpoint}?${new URLSearchParams(params)}`;
  for (let hop = 0; hop < 10; hop += 1) {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const [name, ...value] = pair.split('=');
      jar.set(name.trim(), value.join('='));
    }
    const location = res.headers.get('location');
    assert.ok(location, `hop ${hop}: ${res.status} without a redirect`);
    url = new URL(location, url).toString();
    if (url.startsWith(REDIRECT)) return { discovery, redirect: new URL(url) };
  }
  throw new Error('too many redirects');
}

async function idToken(issuer, loginHint = 'alice_wire') {
  const verifier = b64(randomBytes(32));
  const claims = { id_token: { keyauth: { essential: true, value: 'tok.thumb' }, acme_aud: { essential: true, value: 'https://acme.example/acme/wire/challenge/a/b' } } };
  const { discovery, redirect } = await authorize(issuer, {
    response_type: 'code', client_id: 'wireapp', redirect_uri: REDIRECT, scope: 'openid profile',
    state: 'st', nonce: 'nonce-1', login_hint: loginHint,
    code_challenge: b64(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
    claims: JSON.stringify(claims),
  });
  if (redirect.searchParams.get('error')) return { error: redirect.searchParams.get('error') };
  const res = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: redirect.searchParams.get('code'), redirect_uri: REDIRECT, client_id: 'wireapp', code_verifier: verifier }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return { discovery, token: body.id_token };
}

const idp = await start();
try {
  const { discovery, token } = await idToken(idp.issuer);
  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(discovery.jwks_uri)), { issuer: idp.issuer, audience: 'wireapp' });
  assert.equal(payload.nonce, 'nonce-1');
  assert.equal(payload.name, 'Alice Smith');
  assert.equal(payload.preferred_username, 'wireapp://%40alice_wire@wire.example.com');
  assert.equal(payload.keyauth, 'tok.thumb');
  assert.equal(payload.acme_aud, 'https://acme.example/acme/wire/challenge/a/b');
  assert.equal(decodeProtectedHeader(token).alg, 'RS256');
  const before = decodeProtectedHeader(token).kid;

  const rotated = await (await fetch(`${idp.issuer}/_test/rotate`, { method: 'POST' })).json();
  const after = await idToken(idp.issuer);
  assert.equal(decodeProtectedHeader(after.token).kid, rotated.kid);
  assert.notEqual(rotated.kid, before);
  const jwks = await (await fetch(discovery.jwks_uri)).json();
  assert.ok(jwks.keys.some((k) => k.kid === rotated.kid));

  const denied = await idToken(idp.issuer, 'nobody');
  assert.equal(denied.error, 'access_denied');
  console.log('idp smoke test: ok');
} finally {
  idp.child.kill('SIGTERM');
}
