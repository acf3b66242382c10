// Starts `ringmcp serve` for the node:test suites of tests/ts (shared by every *.test.mjs).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RINGMCP_BIN = process.env.RINGMCP_BIN || `${REPO_ROOT}target/release/ringmcp`;
const STARTUP_TIMEOUT_MS = 10_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;
export const TEST_TIMEOUT_MS = 20_000;
const LISTENING_LINE = /listening on 127\.0\.0\.1:(\d+) /;

/**
 * Starts `ringmcp serve --pack <pack> EXTRA…`; resolves to {url, stop, log} once it listens.
 * `listen` is the address (default: any free port); `scheme` the URL's (`https` with TLS on).
 */
export async function startServer(pack, extra = [], { listen = '127.0.0.1:0', scheme = 'http' } = {}) {
  const args = ['serve', '--listen', listen, '--cores', '2', '--pack', pack, ...extra];
  const child = spawn(RINGMCP_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let timer;
  const port = await new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no listening line in ${STARTUP_TIMEOUT_MS} ms:\n${log}`)), STARTUP_TIMEOUT_MS);
    child.on('error', (err) => reject(new Error(`cannot start ${RINGMCP_BIN}: ${err.message}`)));
    child.on('exit', (code) => reject(new Error(`ringmcp exited with ${code} before listening:\n${log}`)));
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      log += chunk;
      const match = LISTENING_LINE.exec(log);
      if (match) resolve(Number(match[1]));
    });
  })
    .catch((err) => {
      child.kill('SIGKILL');
      throw err;
    })
    .finally(() => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
    });

  async function stop() {
    if (child.exitCode !== null) {
      assert.fail(`ringmcp (pack ${pack}) died early with ${child.exitCode}:\n${log}`);
    }
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), SHUTDOWN_TIMEOUT_MS);
    const [code, signal] = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, `ringmcp (pack ${pack}) exited with ${code ?? signal} after SIGTERM:\n${log}`);
  }
  return { url: new URL(`${scheme}://127.0.0.1:${port}/mcp`), stop, log: () => log };
}
