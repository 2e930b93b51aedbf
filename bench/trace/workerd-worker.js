/* global TextDecoder, TextEncoder, WebAssembly, setTimeout, Response */
// One trace function as a Cloudflare Worker (bench/trace/workerd.ts writes one per function into a
// workerd config): the same trace-fn.wasm, instantiated per request (as Plume restores an instance per
// call), its plume_v1 imports served here. A Worker's Wasm cannot suspend, so the sleep of `wait` mode is
// a timer here; successors are called through service bindings (env[NAME]), all at once.
import guest from './trace-fn.wasm';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function parse(bytes) {
  let pos = 0;
  const line = () => {
    const end = bytes.indexOf(10, pos);
    const s = decoder.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const [rounds, waitMs, kb, n] = line().split(' ').map(Number);
  const next = [];
  for (let i = 0; i < n; i++) {
    const [fn, len] = line().split(' ');
    next.push({ fn, input: bytes.slice(pos, pos + Number(len)) });
    pos += Number(len);
  }
  return { rounds, waitMs, kb, next };
}

function runGuest(input) {
  let memory;
  let output = new Uint8Array(0);
  let failure;
  const view = () => new DataView(memory.buffer);
  const NOTSUP = 10;
  const plume_v1 = {
    input_size: (out) => (view().setUint32(out, input.length, true), 0),
    input_read: (off, buf, len, out) => {
      const chunk = input.subarray(off, off + len);
      new Uint8Array(memory.buffer, buf, chunk.length).set(chunk);
      view().setUint32(out, chunk.length, true);
      return 0;
    },
    output_write: (buf, len) => {
      const next = new Uint8Array(output.length + len);
      next.set(output);
      next.set(new Uint8Array(memory.buffer, buf, len), output.length);
      output = next;
      return 0;
    },
    fail: (buf, len) => ((failure = decoder.decode(new Uint8Array(memory.buffer, buf, len))), 0),
    refuse_input: (_r, buf, len) => ((failure = decoder.decode(new Uint8Array(memory.buffer, buf, len))), 0),
    sleep: () => NOTSUP,
    call: () => NOTSUP,
    await: () => NOTSUP,
  };
  const instance = new WebAssembly.Instance(guest, { plume_v1 });
  memory = instance.exports.memory;
  instance.exports._initialize();
  const code = instance.exports.run();
  if (failure !== undefined || code !== 0) throw new Error(failure ?? `the guest returned ${code}`);
  return output;
}

export default {
  async fetch(request, env) {
    try {
      const call = parse(new Uint8Array(await request.arrayBuffer()));
      const output = runGuest(encoder.encode(`${call.rounds} 0 ${call.kb} 0\n`));
      if (call.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, call.waitMs));
      await Promise.all(
        call.next.map(async (c) => {
          const res = await env[c.fn].fetch('http://trace/', { method: 'POST', body: c.input });
          if (!res.ok) throw new Error(`${c.fn} answered ${res.status}: ${await res.text()}`);
          await res.arrayBuffer();
        }),
      );
      return new Response(output);
    } catch (err) {
      return new Response(String(err && err.message ? err.message : err), { status: 500 });
    }
  },
};
