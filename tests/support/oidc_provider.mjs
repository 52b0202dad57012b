// A real OpenID provider for the tests: npm's oidc-provider (certified by the OpenID
// Foundation), run by tests/support/oidc_provider.py with Debian's nodejs.
//
// node oidc_provider.mjs <config.json>; the config names the issuer, the port (bound on
// 127.0.0.1), the client of the node under test and the test accounts: each with a
// password, its claims (role, procesregisseur id) and the `acr` (and `amr`) its sign-in
// gets, so the tests can sign in with and without the MFA level the node requires.
// Prints "ready" when it listens. The login page is our own minimal one (not the package's
// development pages); consent is implied for the one first-party client.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-1', use: 'sig', alg: 'RS256' };

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="nl"><head><meta charset="utf-8">
<title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;

const provider = new Provider(config.issuer, {
  clients: [config.client],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'roles', 'procesregisseur_id'],
  },
  acrValues: config.acr_values,
  // Scope claims in the ID token itself, as Keycloak and Entra ID put them there.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Uitloggen bij de test-IdP', `${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout" id="idp-uitloggen">Ja, uitloggen</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Uitgelogd bij de test-IdP', '');
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    if (!accounts[sub]) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...accounts[sub].claims }) };
  },
  // First-party client: the grant is implied, no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile');
    grant.addOIDCClaims(['preferred_username', 'roles', 'procesregisseur_id']);
    await grant.save();
    return grant;
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Fout bij de test-IdP', `<p id="idp-fout">${escape(out.error)}</p>`);
  },
});

const callback = provider.callback();

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(page('Inloggen bij de test-IdP', `
<form method="post" action="/interaction/${escape(details.uid)}">
<label for="idp-gebruiker">Gebruiker</label><input id="idp-gebruiker" name="gebruiker">
<label for="idp-wachtwoord">Wachtwoord</label><input id="idp-wachtwoord" name="wachtwoord" type="password">
<button type="submit" id="idp-inloggen">Inloggen</button></form>`));
    return;
  }
  const form = await readForm(req);
  const sub = form.get('gebruiker');
  const account = accounts[sub];
  if (!account || account.password !== form.get('wachtwoord')) {
    res.statusCode = 401;
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(page('Onjuist', '<p id="idp-fout">onbekende gebruiker of wachtwoord</p>'));
    return;
  }
  await provider.interactionFinished(req, res, {
    login: { accountId: sub, acr: account.acr, amr: account.amr },
  }, { mergeWithLastSubmission: false });
}

const server = createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.statusCode = 400;
      res.end(String(err.message));
    });
    return;
  }
  callback(req, res);
});
server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write('ready\n');
});
