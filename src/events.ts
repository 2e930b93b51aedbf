/**
 * Plume's `diagnostics_channel` events, named `plume:<area>:<event>`. Anything may subscribe (the gateway's
 * Prometheus metrics do, and so can an APM tool); publishing costs nothing while no one listens. Every event
 * is published on the main thread.
 */
import { channel } from 'node:diagnostics_channel';

export interface InvocationEvent {
  readonly function: string;
  /** 'ok' or the PlumeError code it failed with. */
  readonly code: string;
  readonly ms: number;
  /** Time spent queued (concurrency limit, batch formation) before it ran. */
  readonly queuedMs: number;
  /** Whether the call had to create an instance (no warm one was idle). */
  readonly cold: boolean;
}

export interface BatchEvent {
  readonly function: string;
  readonly size: number;
  readonly waitMs: number;
}

export interface TransferEvent {
  readonly mode: 'embedded' | 'local' | 'networked';
  readonly bytesMoved: number;
  readonly bytesCopied: number;
}

export interface WorkflowEvent {
  readonly workflow: string;
  readonly code: string;
  readonly ms: number;
  /** The run's trace (src/workflow/trace.ts), by reference: publishing it copies nothing. */
  readonly trace?: WorkflowEventTrace;
}

/** What a workflow trace holds for those who draw it (the dashboard's live view); WorkflowTrace fits it. */
export interface WorkflowEventTrace {
  readonly steps: readonly {
    readonly id: string;
    readonly function: string;
    readonly status: string;
    readonly startMs: number;
    readonly endMs: number;
    readonly node: string;
    readonly attempts: number;
  }[];
  readonly edges: readonly {
    readonly from: string;
    readonly to: string;
    readonly mode: string;
    readonly bytesMoved: number;
    readonly bytesCopied: number;
  }[];
}

export const events = {
  /** An invocation of a function finished (including each step of a workflow and each batch item). */
  invocation: channel('plume:function:invocation'),
  /** The batcher handed a batch to a function. */
  batch: channel('plume:batch:formed'),
  /** A payload moved between functions (a hop of a trace). */
  transfer: channel('plume:data:transfer'),
  /** A workflow run finished. */
  workflow: channel('plume:workflow:run'),
} as const;
