// A real OpenID Provider (panva's certified oidc-provider) for e2ei's tests, headless:
// the interaction route logs in the user named by `login_hint` and grants consent at once, so an
// authorization-code + PKCE flow is a chain of plain HTTP redirects. The OIDC `claims` request
// parameter is on, and the requested `keyauth` / `acme_aud` values are echoed into the ID token,
// as Wire configures Keycloak for wire-oidc-01.
//
//   node idp.mjs [--port 0] [--redirect-uri URI]... [--id-token-alg RS256|ES256] [--id-token-ttl 300]
//                [--users users.json] [--client-id wireapp] [--keys keys.json] [--exit-on-stdin-close]
//
// `--keys FILE` reuses the signing keys in FILE (written there when it does not exist), so two
// IdPs can sign with the same keys under different issuers. A second client, `other-app`, is
// registered beside `--client-id` (ID tokens for another audience). With `--exit-on-stdin-close`
// the IdP stops when its parent closes stdin (tests that share one IdP never leak it).
//
// Prints one JSON line when ready: {"issuer": "http://127.0.0.1:PORT", "port": PORT}.
// POST /_test/rotate adds a new signing key (new kid) and signs further ID tokens with it.
import http from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

function flags(argv) {
  const out = { port: 0, redirectUris: [], idTokenAlg: 'RS256', idTokenTtl: 300, users: null, clientId: 'wireapp', keys: null, exitOnStdinClose: false };
  for (let i = 0; i < argv.length; i += 1) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--port': out.port = Number(value); i += 1; break;
      case '--redirect-uri': out.redirectUris.push(value); i += 1; break;
      case '--id-token-alg': out.idTokenAlg = value; i += 1; break;
      case '--id-token-ttl': out.idTokenTtl = Number(value); i += 1; break;
      case '--users': out.users = value; i += 1; break;
      case '--client-id': out.clientId = value; i += 1; break;
      case '--keys': out.keys = value; i += 1; break;
      case '--exit-on-stdin-close': out.exitOnStdinClose = true; break;
      default: throw new Error(`unknown flag ${argv[i]}`);
    }
  }
  if (out.redirectUris.length === 0) out.redirectUris.push('http://127.0.0.1/callback');
  return out;
}

const options = flags(process.argv.slice(2));
const users = options.users
  ? JSON.parse(readFileSync(options.users, 'utf8'))
  : [
    { login: 'alice_wire', name: 'Alice Smith', preferred_username: 'wireapp://%40alice_wire@wire.example.com', email: 'alice@wire.example.com' },
    { login: 'bob_wire', name: 'Bob Jones', preferred_username: 'wireapp://%40bob_wire@wire.example.com', email: 'bob@wire.example.com' },
  ];

let kidCounter = 0;
async function signingKey(alg) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  kidCounter += 1;
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${kidCounter}` };
}

// The key used for ID tokens comes first; oidc-provider signs with the first key of the alg.
let keys;
if (options.keys && existsSync(options.keys)) {
  keys = JSON.parse(readFileSync(options.keys, 'utf8'));
  kidCounter = keys.length;
} else {
  keys = [await signingKey(options.idTokenAlg), await signingKey(options.idTokenAlg === 'RS256' ? 'ES256' : 'RS256')];
  if (options.keys) writeFileSync(options.keys, JSON.stringify(keys), { mode: 0o600 });
}

function findUser(login) {
  return users.find((u) => u.login === login);
}

let provider;
let server;

function configuration() {
  return {
    clients: [options.clientId, 'other-app'].map((clientId) => ({
      client_id: clientId,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: options.redirectUris,
      id_token_signed_response_alg: options.idTokenAlg,
    })),
    jwks: { keys },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      wire: ['keyauth', 'acme_aud'],
    },
    // Profile claims go into the ID token itself, which is what wire-oidc-01 reads.
    conformIdTokenClaims: false,
    features: {
      claimsParameter: { enabled: true },
      devInteractions: { enabled: false },
    },
    pkce: { required: () => true },
    ttl: { IdToken: options.idTokenTtl, AccessToken: 300, AuthorizationCode: 60, Interaction: 300, Session: 3600, Grant: 3600 },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (ctx, id) => {
      const user = findUser(id);
      if (!user) return undefined;
      return {
        accountId: id,
        // `claims` is what the request asked for with the claims parameter, for this use.
        async claims(use, scope, claims) {
          const requested = (name) => (claims && claims[name] && claims[name].value) || undefined;
          return {
            sub: id,
            name: user.name,
            preferred_username: user.preferred_username,
            email: user.email,
            keyauth: requested('keyauth'),
            acme_aud: requested('acme_aud'),
          };
        },
      };
    },
    renderError: async (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  };
}

function newProvider(issuer) {
  const p = new Provider(issuer, configuration());
  p.proxy = false;
  return p;
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (details.uid !== uid) throw new Error('interaction mismatch');
  let result;
  if (prompt.name === 'login') {
    const login = params.login_hint || users[0].login;
    if (!findUser(login)) {
      result = { error: 'access_denied', error_description: `unknown user ${login}` };
    } else {
      result = { login: { accountId: login } };
    }
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    result = { error: 'access_denied', error_description: `unsupported prompt ${prompt.name}` };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

async function rotate(res) {
  keys.unshift(await signingKey(options.idTokenAlg));
  // Sessions and grants live in this process's memory adapter; a new provider starts clean,
  // which tests can afford.
  provider = newProvider(provider.issuer);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kid: keys[0].kid }));
}

server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://localhost');
    const match = url.pathname.match(/^\/interaction\/([^/]+)$/);
    if (match) return await interaction(req, res, match[1]);
    if (req.method === 'POST' && url.pathname === '/_test/rotate') return await rotate(res);
    return provider.callback()(req, res);
  } catch (error) {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'server_error', error_description: String(error && error.message) }));
  }
});

server.listen(options.port, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  provider = newProvider(issuer);
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

if (options.exitOnStdinClose) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
