/**
 * What the dashboard's views show, as JSON: this node (and its linked peers), the functions with their
 * numbers, and the workflows as DAGs with the mode and bytes of each edge from their last run.
 */
import { availableParallelism, freemem, hostname, loadavg, totalmem } from 'node:os';
import { events, type WorkflowEvent, type WorkflowEventTrace } from '../events.ts';
import type { NodeInfo, PeerLinks } from '../cluster/links.ts';
import type { MemberRecord } from '../cluster/membership.ts';
import type { StepRef, WorkflowSpec } from '../workflow/types.ts';
import type { GatewayContext } from './context.ts';
import type { FunctionStatsReader } from './ui-stats.ts';

export interface UiDataOptions {
  readonly node?: NodeInfo | undefined;
  readonly peers?: PeerLinks | undefined;
  /** The cluster's other members as their membership keys say (on `--redis`): each one's cores, free memory and functions. */
  readonly members?: (() => readonly MemberRecord[]) | undefined;
}

interface LastRun {
  readonly at: number;
  readonly code: string;
  readonly ms: number;
  readonly trace: WorkflowEventTrace | undefined;
}

export class UiData {
  readonly #ctx: GatewayContext;
  readonly #stats: FunctionStatsReader;
  readonly #options: UiDataOptions;
  /** Each workflow's last run, by reference to its trace: one Map write per run, nothing copied. */
  readonly #lastRun = new Map<string, LastRun>();
  readonly #onWorkflow = (message: unknown): void => {
    const e = message as WorkflowEvent;
    this.#lastRun.set(e.workflow, { at: Date.now(), code: e.code, ms: e.ms, trace: e.trace });
  };

  constructor(ctx: GatewayContext, stats: FunctionStatsReader, options: UiDataOptions) {
    this.#ctx = ctx;
    this.#stats = stats;
    this.#options = options;
    events.workflow.subscribe(this.#onWorkflow);
  }

  close(): void {
    events.workflow.unsubscribe(this.#onWorkflow);
  }

  async node(): Promise<object> {
    const { plume } = this.#ctx;
    const pools = Object.values(await plume.stats());
    const sum = (pick: (p: (typeof pools)[number]) => number): number => pools.reduce((n, p) => n + pick(p), 0);
    const m = process.memoryUsage();
    return {
      node: this.#options.node?.node ?? hostname(),
      host: this.#options.node?.host ?? hostname(),
      workers: plume.workers,
      cpus: availableParallelism(),
      load: loadavg(),
      uptimeS: process.uptime(),
      memory: { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, total: totalmem(), free: freemem() },
      functions: pools.length,
      instances: { idle: sum((p) => p.instances.idle), busy: sum((p) => p.instances.busy) },
      queueDepth: sum((p) => p.queueDepth),
      peers: this.#peers(),
    };
  }

  /** The linked peers, with what each one's membership key says of it where it is a cluster member. */
  #peers(): object[] {
    const members = new Map((this.#options.members?.() ?? []).map((m) => [m.node, m]));
    return (this.#options.peers?.peers ?? []).map((p) => {
      const member = members.get(p.node);
      return {
        node: p.node,
        url: p.url,
        mode: p.mode,
        functions: p.functions.length,
        ...(member && {
          cores: member.cores,
          freeMemoryBytes: member.freeMemoryBytes,
          deployed: member.functions.length,
          gateway: member.gateway ?? null,
        }),
      };
    });
  }

  async functions(): Promise<object[]> {
    const { plume } = this.#ctx;
    const [pools, numbers] = await Promise.all([plume.stats(), this.#stats.read()]);
    return plume.list().map((info) => ({
      name: info.name,
      version: info.version,
      kind: info.kind,
      stateful: info.stateful,
      limits: info.limits,
      instances: pools[info.name]?.instances ?? { idle: 0, busy: 0 },
      queueDepth: pools[info.name]?.queueDepth ?? 0,
      outstanding: this.#ctx.admission.outstanding(info.name),
      ...(numbers.get(info.name) ?? { calls: 0, errors: 0, coldStarts: 0, coldShare: 0, callsPerS: null, p50S: null, p99S: null }),
    }));
  }

  workflows(): object[] {
    return this.#ctx.plume.workflows().map((info) => {
      const spec = this.#ctx.plume.workflowSpec(info.name);
      const last = this.#lastRun.get(info.name);
      return {
        name: info.name,
        steps: spec.steps.map((s) => ({ id: s.id, function: s.function, kind: s.map ? 'map' : s.reduce ? 'reduce' : 'call' })),
        edges: edgesOf(spec),
        lastRun: last && {
          at: last.at,
          code: last.code,
          ms: last.ms,
          edges: last.trace?.edges ?? [],
          steps: (last.trace?.steps ?? []).map((s) => ({ id: s.id, status: s.status, startMs: s.startMs, endMs: s.endMs, node: s.node })),
        },
      };
    });
  }
}

/** The DAG's edges as the spec declares them: data (input, map, reduce), conditions, and what `$output` reads. */
export function edgesOf(spec: WorkflowSpec): { from: string; to: string; kind: 'data' | 'condition' }[] {
  const refs = (ref: StepRef | undefined): readonly string[] => (ref === undefined ? [] : typeof ref === 'string' ? [ref] : ref);
  const edges: { from: string; to: string; kind: 'data' | 'condition' }[] = [];
  for (const s of spec.steps) {
    const data = refs(s.map ?? s.reduce ?? s.input ?? '$input');
    for (const from of new Set(data)) edges.push({ from, to: s.id, kind: 'data' });
    for (const c of [s.when, s.unless]) if (c) edges.push({ from: c.step, to: s.id, kind: 'condition' });
  }
  const output = spec.output ?? spec.steps.at(-1)?.id;
  for (const from of new Set(refs(output))) edges.push({ from, to: '$output', kind: 'data' });
  return edges;
}
