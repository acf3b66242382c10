// The official TypeScript clients over HTTPS with a bearer token: `ringmcp serve` with
// `--tls-mode required` (test CA and server certificate from `testpki init`, trusted by Node
// through NODE_EXTRA_CA_CERTS, which tests/ts/run sets before Node starts) and
// `--auth-mode required` (JWTs checked against testpki's JWKS file). The v2 client gets the
// token from `authProvider.token()` (a pre-issued token: no OAuth flow) in both eras, the v1
// client from its `requestInit` headers; a wrong token makes the v2 client throw
// `UnauthorizedError`.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startServer, TEST_TIMEOUT_MS } from './ringmcp.mjs';

const PKI = process.env.TESTPKI_DIR;
const TESTPKI = process.env.TESTPKI_BIN;
const ISSUER = 'https://as.test';

function token(aud) {
  return execFileSync(TESTPKI, ['token', PKI, '--kid', 'k-ed', '--aud', aud, '--iss', ISSUER, '--scope', 'mcp:tools', '--exp-s', '600'])
    .toString()
    .trim();
}

async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function listAndEcho(client) {
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name), ['echo', 'add', 'sleep']);
  const result = await client.callTool({ name: 'echo', arguments: { text: 'over tls' } });
  assert.deepEqual(result.content, [{ type: 'text', text: 'over tls' }]);
}

describe('HTTPS with a bearer token', { timeout: TEST_TIMEOUT_MS * 3 }, () => {
  assert.ok(PKI && TESTPKI && process.env.NODE_EXTRA_CA_CERTS, 'tests/ts/run sets TESTPKI_DIR, TESTPKI_BIN, NODE_EXTRA_CA_CERTS');
  let server;
  let url;
  before(async () => {
    const port = await freePort();
    url = `https://127.0.0.1:${port}/mcp`;
    server = await startServer(
      'bench',
      [
        '--tls-mode', 'required', '--tls-cert-file', `${PKI}/server.pem`, '--tls-key-file', `${PKI}/server.key`,
        '--auth-mode', 'required', '--auth-resource', url, '--auth-issuers', ISSUER,
        '--auth-authorization-servers', ISSUER, '--auth-jwks-file', `${PKI}/jwks.json`,
      ],
      { listen: `127.0.0.1:${port}`, scheme: 'https' },
    );
  });
  after(async () => server && (await server.stop()));

  for (const mode of ['auto', 'legacy']) {
    test(`v2 client, ${mode} negotiation, token from authProvider`, async () => {
      const client = new Client({ name: 'ringmcp-ts-auth', version: '1.0.0' }, { versionNegotiation: { mode } });
      const bearer = token(url);
      await client.connect(new StreamableHTTPClientTransport(server.url, { authProvider: { token: async () => bearer } }));
      assert.equal(client.getProtocolEra(), mode === 'auto' ? 'modern' : 'legacy');
      await listAndEcho(client);
      await client.close();
    });
  }

  test('v1 client with the token in requestInit headers', async () => {
    const client = new V1Client({ name: 'ringmcp-ts-auth-v1', version: '1.0.0' });
    const headers = { Authorization: `Bearer ${token(url)}` };
    await client.connect(new V1Transport(server.url, { requestInit: { headers } }));
    await listAndEcho(client);
    await client.close();
  });

  test('a token for another resource is refused: UnauthorizedError', async () => {
    const client = new Client({ name: 'ringmcp-ts-auth', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    const wrong = token('https://elsewhere.test/mcp');
    await assert.rejects(
      client.connect(new StreamableHTTPClientTransport(server.url, { authProvider: { token: async () => wrong } })),
      (err) => err instanceof UnauthorizedError,
    );
  });
});
