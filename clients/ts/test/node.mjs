// Starts the real `rhizome` binary (RHIZOME_BIN, set by tests/ts_client.rs)
// on a fixed free port and a data directory, so a test can kill it and
// start it again at the same address with the same data.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const BIN = process.env.RHIZOME_BIN;
if (!BIN) throw new Error('RHIZOME_BIN must name the rhizome binary (tests/ts_client.rs sets it)');

export async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

export class TestNode {
  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.url = `http://127.0.0.1:${port}`;
    this.child = undefined;
  }

  static async start() {
    const node = new TestNode(await freePort(), mkdtempSync(join(tmpdir(), 'rhizome-ts-')));
    await node.run();
    return node;
  }

  /** Starts the binary (again) and waits for its start line. */
  async run() {
    const child = spawn(BIN, ['start'], {
      env: {
        ...process.env,
        RHIZOME_HTTP_PORT: String(this.port),
        RHIZOME_DATA_DIR: this.dir,
        RHIZOME_SYNC: 'off',
        RHIZOME_LOG: 'warn',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    const lines = createInterface({ input: child.stdout });
    await new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`rhizome exited with ${code} before its start line`)));
      lines.once('line', (line) => (line.includes('rhizome listening') ? resolve() : reject(new Error(line))));
    });
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill() {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  async stop() {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Takes `n` items from an async iterator (and leaves it open); fails after `timeoutMs`. */
export async function take(iter, n, label = '', timeoutMs = 20000) {
  const out = [];
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: timed out with ${out.length} of ${n} items: ${JSON.stringify(out)}`)), timeoutMs);
  });
  try {
    while (out.length < n) {
      const { value, done } = await Promise.race([iter.next(), timeout]);
      if (done) break;
      out.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}
