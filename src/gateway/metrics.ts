/**
 * The node's Prometheus metrics (`GET /metrics`). Counters and histograms follow the runtime's
 * diagnostics_channel events (src/events.ts), so the runtime knows nothing of Prometheus; gauges read the
 * runtime's pool statistics when a scrape asks for them. Each GatewayMetrics has its own registry: two
 * nodes in one process (tests) do not share series.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { events, type BatchEvent, type InvocationEvent, type TransferEvent } from '../events.ts';

/** What a scrape reads from the runtime: per function, its instances and the calls waiting for one. */
export interface PoolCounts {
  readonly instances: { readonly idle: number; readonly busy: number };
  readonly queueDepth: number;
}

export interface MetricsSource {
  /** Per-function pool counts (Plume#stats). */
  stats(): Promise<Readonly<Record<string, PoolCounts>>>;
}

// Functions run in tens of microseconds warm and up to seconds for inference: buckets span both.
const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #invocations: Counter<'function' | 'code'>;
  readonly #duration: Histogram<'function'>;
  readonly #coldStarts: Counter<'function'>;
  readonly #batchSize: Histogram;
  readonly #transferBytes: Counter<'mode'>;
  readonly #copiedBytes: Counter<'mode'>;
  readonly #unsubscribe: () => void;
  /** function → code → its counter: looked up without building a key string per call. */
  readonly #byCode = new Map<string, Map<string, Counter.Internal>>();
  readonly #byFunction = new Map<string, Histogram.Internal<'function'>>();

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    this.#invocations = new Counter({
      name: 'plume_function_invocations_total',
      help: 'Invocations finished, by function and result code (ok or the PlumeError code)',
      labelNames: ['function', 'code'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'plume_function_duration_seconds',
      help: 'Time from accepting an invocation to its result, queueing included',
      labelNames: ['function'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#coldStarts = new Counter({
      name: 'plume_cold_starts_total',
      help: 'Invocations that had to create an instance (no warm one was idle)',
      labelNames: ['function'],
      registers,
    });
    this.#batchSize = new Histogram({
      name: 'plume_batch_size',
      help: 'Inputs per batch handed to a function',
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.#transferBytes = new Counter({
      name: 'plume_transfer_bytes_total',
      help: 'Payload bytes moved between functions, by mode',
      labelNames: ['mode'],
      registers,
    });
    this.#copiedBytes = new Counter({
      name: 'plume_copied_bytes_total',
      help: 'Payload bytes copied into a receiving function, by mode',
      labelNames: ['mode'],
      registers,
    });
    const pools = async (): Promise<[string, PoolCounts][]> => Object.entries(await source.stats());
    new Gauge({
      name: 'plume_queue_depth',
      help: 'Calls waiting for a concurrency slot or a batch, by function',
      labelNames: ['function'],
      registers,
      async collect() {
        this.reset();
        for (const [fn, c] of await pools()) this.set({ function: fn }, c.queueDepth);
      },
    });
    new Gauge({
      name: 'plume_instances',
      help: 'Function instances on all workers, by state (idle or busy)',
      labelNames: ['function', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const [fn, c] of await pools()) {
          this.set({ function: fn, state: 'idle' }, c.instances.idle);
          this.set({ function: fn, state: 'busy' }, c.instances.busy);
        }
      },
    });

    const onInvocation = (message: unknown): void => this.#invocation(message as InvocationEvent);
    const onBatch = (message: unknown): void => this.#batchSize.observe((message as BatchEvent).size);
    const onTransfer = (message: unknown): void => {
      const t = message as TransferEvent;
      this.#transferBytes.inc({ mode: t.mode }, t.bytesMoved);
      this.#copiedBytes.inc({ mode: t.mode }, t.bytesCopied);
    };
    events.invocation.subscribe(onInvocation);
    events.batch.subscribe(onBatch);
    events.transfer.subscribe(onTransfer);
    this.#unsubscribe = () => {
      events.invocation.unsubscribe(onInvocation);
      events.batch.unsubscribe(onBatch);
      events.transfer.unsubscribe(onTransfer);
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.#unsubscribe();
  }

  #invocation(e: InvocationEvent): void {
    // Every invocation lands here: label children are looked up once per function and code, not hashed per call.
    let codes = this.#byCode.get(e.function);
    if (!codes) this.#byCode.set(e.function, (codes = new Map()));
    let count = codes.get(e.code);
    if (!count) codes.set(e.code, (count = this.#invocations.labels(e.function, e.code)));
    count.inc();
    // A call refused at the door never ran: counting its zero time would drag the latency histogram down.
    if (e.code !== 'PLUME_EBUSY') {
      let duration = this.#byFunction.get(e.function);
      if (!duration) this.#byFunction.set(e.function, (duration = this.#duration.labels(e.function)));
      duration.observe(e.ms / 1000);
    }
    if (e.cold) this.#coldStarts.inc({ function: e.function });
  }
}
