/**
 * The receiving end of `bench transfer`'s `tcp-raw` case, run as a child process: connects to the port in
 * argv[2] and reads every message (u32 BE length, then that many bytes) with `onread` straight into one
 * reused buffer, as a peer's pooled buffer receives a body, then answers with one byte. Nothing else
 * runs here, so the case is what plain Node TCP costs on the same link.
 */
import net from 'node:net';

const port = Number(process.argv[2]);
const capacity = Number(process.argv[3]);
const LENGTH_BYTES = 4;
const into = new Uint8Array(LENGTH_BYTES + capacity);
const view = new DataView(into.buffer);
const ACK = new Uint8Array([1]);
let filled = 0;

const socket = net.connect({
  host: '127.0.0.1',
  port,
  onread: {
    buffer: () => into.subarray(filled),
    callback: (n: number) => {
      filled += n;
      if (filled >= LENGTH_BYTES && filled === LENGTH_BYTES + view.getUint32(0)) {
        filled = 0;
        socket.write(ACK);
      }
      return true;
    },
  },
});
socket.setNoDelay(true);
socket.on('error', () => process.exit(1));
socket.on('close', () => process.exit(0));
