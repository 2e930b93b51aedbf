/** Workflows: the spec and its builder, the registry the runtime delegates to, traces and their timeline. */
export { workflow, WorkflowBuilder } from './builder.ts';
export { parseSpec, formatPath, type ParsedSpec, type SpecIssue } from './spec.ts';
export { WorkflowRegistry, type ApplyOptions, type RunOptions, type WorkflowHost, type WorkflowRun } from './registry.ts';
export { DEFAULT_MAP_CONCURRENCY, runWorkflow, type PlacementHint, type StepInvoker } from './run.ts';
export { formatTimeline } from './timeline.ts';
export type { CallTrace, EdgeTrace, StepTrace, WorkflowTrace } from './trace.ts';
export {
  INPUT,
  type Condition,
  type FunctionSource,
  type ModelSource,
  type RetryPolicy,
  type StepRef,
  type StepSpec,
  type WorkflowInfo,
  type WorkflowSpec,
} from './types.ts';
