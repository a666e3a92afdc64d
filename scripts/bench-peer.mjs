// The certified peer for `make bench`: node `oidc-provider` 9.13 (installed by scripts/bench into
// the cache), configured as ../shared/BENCHMARKS.md measured it: client_credentials with RS256
// JWT access tokens (resource indicators), discovery and JWKS. Not part of the product.
// Usage: node scripts/bench-peer.mjs PORT   (client "bench", secret "bench-secret")
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(process.env.PEER_MODULES + '/');
const { default: Provider } = await import(require.resolve('oidc-provider'));
const port = Number(process.argv[2]);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'RS256' };
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{ client_id: 'bench', client_secret: 'bench-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
  jwks: { keys: [jwk] },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:joygate:bench',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'partner', accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'RS256' } } }),
    },
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`peer listening on ${port}`));
