// A real OpenID Connect provider (oidc-provider, pinned in package-lock.json)
// on loopback for Ward's single sign-on tests (crates/ward/tests/it/sso.rs).
// Prints one line, "ready <issuer>", once it listens; runs until killed.
// Usage: node provider.mjs <port> <ward callback URL> [issuer]
//
// Its users: any login name with any password (the provider's development
// login form); claims come from ACCOUNTS. "late" gets an ID token that
// lives one second, and the token endpoint answers it 2.5 s late, so that
// the token has expired when Ward checks it.
import Provider from 'oidc-provider';

const [port, redirect, issuerArg] = process.argv.slice(2);
const issuer = issuerArg || `http://127.0.0.1:${port}`;

const ACCOUNTS = {
  alice: { groups: ['ward-admins', 'staff'], org: 'acme' },
  bob: { groups: ['staff', 'soc'], org: 'acme' },
  mallory: { groups: ['marketing'], org: 'acme' },
  late: { groups: ['soc'], org: 'acme' },
};

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
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token) {
    const claims = JSON.parse(Buffer.from(ctx.body.id_token.split('.')[1], 'base64url'));
    if (claims.sub === 'late') await sleep(2500);
  }
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
