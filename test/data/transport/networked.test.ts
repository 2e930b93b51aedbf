/** The transport contract over TCP on loopback, plus what is particular to `networked`. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createNetworkedClient, createNetworkedServer, parseHostPort } from '../../../src/data/transport/networked.ts';
import { spawnPeer } from './child-peer.ts';
import { transportContract } from './contract.ts';

transportContract({
  mode: 'networked',
  createServer: createNetworkedServer,
  createClient: createNetworkedClient,
  unusedAddress: async () => {
    // a port that was free a moment ago: bound by the OS, then released
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    return `127.0.0.1:${port}`;
  },
  startDoomedPeer: () => spawnPeer('networked'),
  rawConnect: (address) => net.connect(parseHostPort(address)),
});

describe('networked transport addresses', () => {
  it('should report the port it bound when asked for port 0', async () => {
    const server = createNetworkedServer(async (r) => r.body);
    const address = await server.listen('127.0.0.1:0');
    const { host, port } = parseHostPort(address);
    assert.equal(host, '127.0.0.1');
    assert.ok(port > 0);
    await server.close();
  });

  it('should parse IPv6 addresses and refuse malformed ones', () => {
    assert.deepEqual(parseHostPort('[::1]:8080'), { host: '::1', port: 8080 });
    assert.throws(() => parseHostPort('127.0.0.1'), RangeError);
    assert.throws(() => parseHostPort('127.0.0.1:70000'), RangeError);
  });
});
