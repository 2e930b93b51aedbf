/**
 * The load generator of `plume bench gateway`, run as a child process: closed-loop clients over keep-alive
 * connections, each sending its next request as soon as the previous answer has arrived. It gets one job
 * per message and answers with the latencies it measured.
 */
import { Agent, request } from 'node:http';

export interface LoadJob {
  readonly url: string;
  readonly bodyBytes: number;
  /** Send this body instead of `bodyBytes` of 'x' (a hostile guest's command); its answers are not checked. */
  readonly body?: string;
  readonly clients: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface LoadResult {
  /** Latency of every request that finished inside the measured window, in ms. */
  readonly samples: number[];
  readonly elapsedMs: number;
  /** Answers that were not 200 with the expected body length (a correct run has none). */
  readonly errors: number;
  readonly firstError?: string;
}

async function load(job: LoadJob): Promise<LoadResult> {
  const target = new URL(job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.clients });
  const body = job.body === undefined ? Buffer.alloc(job.bodyBytes, 0x78) : Buffer.from(job.body);
  const headers = body.length ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : { 'content-length': 0 };
  const samples: number[] = [];
  let measuring = false;
  let stopped = false;
  let errors = 0;
  let firstError: string | undefined;

  const once = (): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now();
      const req = request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers }, (res) => {
        let received = 0;
        res.on('data', (chunk: Buffer) => (received += chunk.length));
        res.on('end', () => {
          // noop answers nothing, echo answers the body: any other length is a wrong answer.
          if (job.body === undefined && (res.statusCode !== 200 || received !== job.bodyBytes)) {
            errors++;
            firstError ??= `status ${res.statusCode}, ${received} of ${job.bodyBytes} bytes`;
          }
          resolve(performance.now() - started);
        });
      });
      req.on('error', reject);
      req.end(body);
    });

  const client = async (): Promise<void> => {
    while (!stopped) {
      const ms = await once();
      if (measuring) samples.push(ms);
    }
  };
  const clients = Array.from({ length: job.clients }, client);
  await sleep(job.warmupMs);
  measuring = true;
  const start = performance.now();
  await sleep(job.durationMs);
  measuring = false;
  const elapsedMs = performance.now() - start;
  stopped = true;
  await Promise.all(clients);
  agent.destroy();
  return { samples, elapsedMs, errors, ...(firstError === undefined ? {} : { firstError }) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

process.on('message', (job: LoadJob) => {
  load(job).then(
    (result) => process.send!(result),
    (err: Error) => process.send!({ samples: [], elapsedMs: 0, errors: 1, firstError: err.message }),
  );
});
