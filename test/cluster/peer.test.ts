/**
 * Peers: a second Plume process serves its functions over `local` and `networked`, for real (a child
 * process per mode); `embedded` runs the same calls in this process.
 */
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PeerClient, PeerServer, startPeerProcess, type PeerProcess } from '../../src/cluster/index.ts';
import { HEADER_BYTES } from '../../src/data/transport/index.ts';
import { Plume } from '../../src/index.ts';
import { example, guest, rejection, text } from '../helpers.ts';

const MB = 1024 * 1024;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ESRCH');
    return false;
  }
}

for (const mode of ['local', 'networked'] as const) {
  describe(`a peer process over ${mode}`, () => {
    let peer: PeerProcess;
    let client: PeerClient;
    before(async () => {
      peer = await startPeerProcess({ mode, workers: 1 });
      await peer.deploy('hello', example('hello/hello.wasm'));
      await peer.deploy('conformance', guest('conformance-c.wasm'));
      client = await PeerClient.connect(peer.address, mode, { timeoutMs: 10_000 });
    });
    after(async () => {
      await client?.close();
      await peer?.stop();
    });

    it('should run a function deployed in the peer and report what the call moved', async () => {
      const { output, call } = await client.invokeDetailed('hello', 'peer');
      assert.equal(text(output), 'Hello, peer!');
      const payload = 'invoke:hello'.length + 'peer'.length + output.length;
      assert.deepEqual(
        { function: call.function, mode: call.mode, ok: call.ok, bytesMoved: call.bytesMoved, bytesCopied: call.bytesCopied },
        // copied: what this end copied, i.e. the small answer out of the receive buffer; the peer's copies are its own
        { function: 'hello', mode, ok: true, bytesMoved: 2 * HEADER_BYTES + payload, bytesCopied: output.length },
      );
    });

    it('should reject a call to an unknown function with PLUME_ENOFUNC', async () => {
      const error = await rejection(client.invoke('nobody', 'x'));
      assert.equal(error.code, 'PLUME_ENOFUNC');
      assert.match(error.message, /'nobody'/);
    });

    it('should carry 20 MB there and back byte for byte', async () => {
      const bytes = randomFillSync(new Uint8Array(20 * MB));
      const input = new Uint8Array(5 + bytes.length);
      input.set(Buffer.from('echo:'));
      input.set(bytes, 5);
      const { output, call } = await client.invokeDetailed('conformance', input);
      assert.equal(output.length, bytes.length);
      // The input reaches the peer with no copy at this end: `local` writes it into a shared file straight
      // from where it lies, `networked` serves the pull from the input itself. The answer is read in place:
      // this end copies only what arrived before the answer's buffer was placed — a read or two, as the
      // kernel happens to split the stream (64 KiB + 7.6 KB once under load), never a copy of the 20 MB.
      const early = 256 * 1024;
      assert.ok(call.bytesCopied <= early, `copied ${call.bytesCopied} bytes`);
      assert.ok(Buffer.from(output.buffer, output.byteOffset, output.length).equals(bytes), 'the echo differs from the input');
    });

    it('should reject a call in flight with PLUME_EPEER when the peer is killed', async () => {
      const call = client.invoke('conformance', 'sleep:5000');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const killed = performance.now();
      process.kill(peer.pid, 'SIGKILL');
      const error = await rejection(call);
      assert.equal(error.code, 'PLUME_EPEER');
      assert.ok(performance.now() - killed < 2000, 'the rejection waited for something other than the socket closing');
      assert.equal((await rejection(client.invoke('hello', 'again'))).code, 'PLUME_EPEER');
    });

    it('should leave no process and no socket file after stop', async () => {
      await peer.stop();
      assert.equal(alive(peer.pid), false);
      if (mode === 'local') assert.equal(existsSync(peer.address), false);
      await peer.stop(); // idempotent
    });
  });
}

describe('a peer in this process (embedded)', () => {
  let plume: Plume;
  let server: PeerServer;
  let client: PeerClient;
  before(async () => {
    plume = await Plume.start({ workers: 1 });
    await plume.deploy('hello', example('hello/hello.wasm'));
    server = new PeerServer(plume, { mode: 'embedded' });
    client = await PeerClient.connect(await server.listen(), 'embedded');
  });
  after(async () => {
    await client?.close();
    await server?.close();
    await plume?.close();
  });

  it('should run a function without copying its payloads', async () => {
    const { output, call } = await client.invokeDetailed('hello', 'peer');
    assert.equal(text(output), 'Hello, peer!');
    assert.equal(call.mode, 'embedded');
    assert.equal(call.bytesCopied, 0);
    assert.equal(call.bytesMoved, 'peer'.length + output.length);
  });

  it('should refuse deploys unless the server allows them', async () => {
    const error = await rejection(client.deploy('other', example('hello/hello.wasm')));
    assert.equal(error.code, 'PLUME_EINPUT');
    assert.match(error.message, /does not accept deploys/);
  });

  it('should reject a connection to an address nobody listens on with PLUME_EPEER', async () => {
    assert.equal((await rejection(PeerClient.connect('nobody-here', 'embedded'))).code, 'PLUME_EPEER');
  });
});
