// A real OpenID provider (oidc-provider) shaped like Zitadel, for the test suite.
//
// It serves Zitadel's endpoint paths, public PKCE clients that get JWT or
// opaque access tokens whose `aud` carries a project id, a confidential "API
// app" for introspection, and a plain HTML login form. Everything is set via
// OP_* environment variables; once listening it prints one line:
//   READY {"issuer": "...", "kid": "...", "pid": 123}
// Restarting on the same port gives a new signing key: that is key rotation.
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID, verify } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const env = process.env;
const list = (value, fallback) => (value ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);

const HOST = env.OP_HOST || '127.0.0.1';
const PORT = Number(env.OP_PORT || 0);
const PROJECT_ID = env.OP_PROJECT_ID || '100000000000000001';
const ORG_ID = env.OP_ORG_ID || '200000000000000001';
const CLIENT_JWT = env.OP_CLIENT_ID || 'flare-jwt';
const CLIENT_OPAQUE = env.OP_CLIENT_ID_OPAQUE || 'flare-opaque';
const CLIENT_SHORT = env.OP_CLIENT_ID_SHORT || 'flare-short';
const API_CLIENT_ID = env.OP_API_CLIENT_ID || 'flare-api';
const API_CLIENT_SECRET = env.OP_API_CLIENT_SECRET || 'flare-api-secret';
const REDIRECT_URIS = list(env.OP_REDIRECT_URIS, 'http://localhost:8000/flare/callback');
const POST_LOGOUT_URIS = list(env.OP_POST_LOGOUT_URIS, 'http://localhost:8000/flare');
const USER = {
  username: env.OP_USER || 'ada',
  password: env.OP_PASSWORD || 'correct horse battery staple',
  sub: env.OP_SUB || '300000000000000001',
  email: env.OP_EMAIL || 'ada@example.test',
  name: env.OP_NAME || 'Ada Lovelace',
  roles: list(env.OP_ROLES, 'flare.viewer'),
};
const AT_TTL = Number(env.OP_AT_TTL || 300);
const SHORT_AT_TTL = Number(env.OP_SHORT_AT_TTL || 2);

// Zitadel's resource is the project; its scopes put the project into `aud` and ask for roles.
const RESOURCE = `urn:zitadel:project:${PROJECT_ID}`;
const RESOURCE_SCOPE = `urn:zitadel:iam:org:project:id:${PROJECT_ID}:aud urn:zitadel:iam:org:projects:roles`;
const PROJECT_CLIENTS = [CLIENT_JWT, CLIENT_OPAQUE, CLIENT_SHORT];

function roleClaims() {
  const roles = Object.fromEntries(USER.roles.map((role) => [role, { [ORG_ID]: 'flare.localhost' }]));
  return {
    'urn:zitadel:iam:org:project:roles': roles,
    [`urn:zitadel:iam:org:project:${PROJECT_ID}:roles`]: roles,
  };
}

function userClaims() {
  return {
    sub: USER.sub,
    email: USER.email,
    email_verified: true,
    name: USER.name,
    preferred_username: USER.username,
  };
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`
    + `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function loginForm(uid, error) {
  return page('Sign in', `${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/ui/login/${escapeHtml(uid)}">
  <input type="hidden" name="uid" value="${escapeHtml(uid)}">
  <label>Login name <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form>`);
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = randomUUID();
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
const verifyKey = createPublicKey(privateKey);

const publicClient = (clientId) => ({
  client_id: clientId,
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: REDIRECT_URIS,
  post_logout_redirect_uris: POST_LOGOUT_URIS,
});

function configuration() {
  return {
    clients: [
      ...PROJECT_CLIENTS.map(publicClient),
      {
        client_id: API_CLIENT_ID,
        client_secret: API_CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    routes: {
      authorization: '/oauth/v2/authorize',
      token: '/oauth/v2/token',
      jwks: '/oauth/v2/keys',
      introspection: '/oauth/v2/introspect',
      revocation: '/oauth/v2/revoke',
      userinfo: '/oidc/v1/userinfo',
      end_session: '/oidc/v1/end_session',
    },
    pkce: { methods: ['S256'], required: () => true },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: {
        enabled: true,
        // Like Zitadel: only an app of the same project may introspect.
        allowedPolicy: async (ctx, client) => client.clientId === API_CLIENT_ID,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page('Sign out', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resourceIndicator, client) => {
          if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: RESOURCE_SCOPE,
            audience: PROJECT_ID,
            accessTokenFormat: client.clientId === CLIENT_OPAQUE ? 'opaque' : 'jwt',
            accessTokenTTL: client.clientId === CLIENT_SHORT ? SHORT_AT_TTL : AT_TTL,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    formats: {
      customizers: {
        // Zitadel signs access tokens with typ "JWT" and lists every app of the project in aud.
        jwt: async (ctx, token, jwt) => {
          jwt.header = { typ: 'JWT' };
          jwt.payload.aud = [...PROJECT_CLIENTS, PROJECT_ID];
        },
      },
    },
    extraTokenClaims: async (ctx, token) => (token.kind === 'AccessToken' && token.accountId ? roleClaims() : undefined),
    // First-party apps: grant what they ask for without a consent screen.
    loadExistingGrant: async (ctx) => {
      const { session, client, provider } = ctx.oidc;
      if (!session.accountId) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      let grant = grantId ? await provider.Grant.find(grantId) : undefined;
      grant ??= new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid profile email offline_access');
      grant.addResourceScope(RESOURCE, RESOURCE_SCOPE);
      await grant.save();
      return grant;
    },
    findAccount: async (ctx, id) => (id === USER.sub ? { accountId: id, claims: async () => userClaims() } : undefined),
    interactions: { url: async (ctx, interaction) => `/ui/login/${interaction.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre>${escapeHtml(JSON.stringify(out))}</pre>`);
    },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || AT_TTL,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
  };
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(body);
}

async function handleLogin(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method !== 'POST') {
    send(res, 200, loginForm(details.uid));
    return;
  }
  const form = await readForm(req);
  if (form.get('username') !== USER.username || form.get('password') !== USER.password) {
    send(res, 401, loginForm(details.uid, 'Wrong login name or password.'));
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: USER.sub } }, { mergeWithLastSubmission: false });
}

// Zitadel answers userinfo for project-bound access tokens; oidc-provider refuses them, so we do it.
async function handleUserinfo(provider, req, res) {
  const header = req.headers.authorization || '';
  const value = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
  let accountId;
  const parts = value.split('.');
  if (parts.length === 3) {
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    if (verify('RSA-SHA256', signed, verifyKey, Buffer.from(parts[2], 'base64url'))) {
      const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
      if (claims.exp > Date.now() / 1000) accountId = claims.sub;
    }
  } else if (value) {
    accountId = (await provider.AccessToken.find(value))?.accountId;
  }
  if (accountId !== USER.sub) {
    res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'invalid_token' }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ ...userClaims(), ...roleClaims() }));
}

const server = createServer();
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;
  const provider = new Provider(issuer, configuration());
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const path = req.url.split('?')[0];
    let handled;
    if (path.startsWith('/ui/login/')) handled = handleLogin(provider, req, res);
    else if (path === '/oidc/v1/userinfo') handled = handleUserinfo(provider, req, res);
    else {
      callback(req, res);
      return;
    }
    handled.catch((err) => {
      if (!res.headersSent) send(res, 400, page('Error', `<pre>${escapeHtml(err.message)}</pre>`));
    });
  });
  process.stdout.write(`READY ${JSON.stringify({ issuer, kid: KID, pid: process.pid })}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
