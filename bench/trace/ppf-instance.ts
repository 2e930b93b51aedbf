/**
 * One instance of one function in the `process-per-function` case: a Node process hosting the trace guest
 * on the bare engine (bench/ocr/bare-host.ts), behind HTTP, as a container platform runs a function.
 * `POST /` with a call (call-format.ts): the guest does its own work (touch memory, burn, sleep), then the
 * process calls the function's successors through the platform's router (`POST {router}/call/NAME`) and
 * awaits them, as a function calls the next one through the gateway. Argument: `{"name", "module", "router"}`.
 */
import { BareHost } from '../ocr/bare-host.ts';
import { decodeCall, ownWork } from './call-format.ts';
import { serve } from './serve.ts';

const config = JSON.parse(process.argv[2] ?? '') as { name: string; module: string; router: string };
const host = await BareHost.load({ [config.name]: { module: config.module, options: {}, models: [] } }, {});

const { server, port } = await serve(async (_path, input) => {
  const call = decodeCall(input);
  const out = await host.invoke(config.name, ownWork(call, false));
  await Promise.all(
    call.next.map(async (c) => {
      const res = await fetch(`${config.router}/call/${encodeURIComponent(c.fn)}`, {
        method: 'POST',
        body: c.input as Uint8Array<ArrayBuffer>,
      });
      if (!res.ok) throw new Error(`${c.fn} answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }),
  );
  return out;
});
process.stdout.write(`ready ${port}\n`);

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void host.close().then(() => process.exit(0));
});
