// A real OpenID Connect provider (oidc-provider, pinned in package-lock.json)
// on loopback for Ward's single sign-on tests (crates/ward/tests/it/sso.rs).
// Prints one line, "ready <issuer>", once it listens; runs until killed.
// Usage: node provider.mjs <port> <ward callback URL> [issuer]
//
// Its users: any login name with any password (the provider's development
// login form); claims come from ACCOUNTS. "late" gets an ID token that
// lives one second, and the token endpoint answers it 2.5 s late, so that
// the token has expired when Ward checks it. "imposter" gets an ID token
// that names another issuer, signed with the provider's own key (as a
// second issuer sharing the keys would sign it). "echo" gets, from its
// second login on, the ID token of its first login again: genuine, signed,
// unexpired, but with the nonce of that first login.
import { createSign, generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, redirect, issuerArg] = process.argv.slice(2);
const issuer = issuerArg || `http://127.0.0.1:${port}`;

const ACCOUNTS = {
  alice: { groups: ['ward-admins', 'staff'], org: 'acme' },
  bob: { groups: ['staff', 'soc'], org: 'acme' },
  mallory: { groups: ['marketing'], org: 'acme' },
  late: { groups: ['soc'], org: 'acme' },
  imposter: { groups: ['soc'], org: 'acme' },
  echo: { groups: ['soc'], org: 'acme' },
};

// The provider's signing key, made here so that a token can be signed
// again with different claims.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };
const part = v => Buffer.from(JSON.stringify(v)).toString('base64url');
const decode = p => JSON.parse(Buffer.from(p, 'base64url'));
function resign(idToken, changes) {
  const [header, claims] = idToken.split('.').slice(0, 2).map(decode);
  const input = `${part(header)}.${part({ ...claims, ...changes })}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'ward',
    client_secret: 'ward-test-secret-0123456789',
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups', 'org'] },
  // The claims of the scopes asked for go in the ID token itself.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['ward-test-cookie-key-0123456789'] },
  jwks: { keys: [jwk] },
  async findAccount(ctx, id) {
    const extra = ACCOUNTS[id];
    if (!extra) return undefined;
    return { accountId: id, async claims() { return { sub: id, preferred_username: id, name: id, ...extra }; } };
  },
  ttl: {
    IdToken: (ctx, token) => (token.available && token.available.sub === 'late' ? 1 : 3600),
  },
});

const sleep = ms => new Promise(r => setTimeout(r, ms));
let firstEcho;
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token) {
    const claims = decode(ctx.body.id_token.split('.')[1]);
    if (claims.sub === 'late') await sleep(2500);
    if (claims.sub === 'imposter') {
      ctx.body = { ...ctx.body, id_token: resign(ctx.body.id_token, { iss: 'http://127.0.0.1:9/another-issuer' }) };
    }
    if (claims.sub === 'echo') {
      if (firstEcho) ctx.body = { ...ctx.body, id_token: firstEcho };
      else firstEcho = ctx.body.id_token;
    }
  }
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
