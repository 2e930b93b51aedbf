/** Plume's public API: `import { Plume } from 'plume'`. */
export { Plume, type FunctionInfo, type InvokeCall, type LogLine, type PlumeOptions } from './runtime.ts';
export type { DeployOptions } from './engine/compile.ts';
export { DEFAULT_LIMITS, type Limits } from './engine/definition.ts';
export type { InvocationResult, InvokeOptions } from './executor/executor.ts';
export type { FunctionStats } from './runtime.ts';
export { Batcher, type BatchPolicy, type BatchMode } from './scheduler/index.ts';
export { PlumeError, ErrorCodes, type ErrorCode } from './errors.ts';
export { Errno } from './host/errno.ts';
export { NnErrno } from './host/wasi-nn.ts';
export type { ModelInfo, TensorInfo } from './inference/tensor.ts';
export {
  workflow,
  WorkflowBuilder,
  formatTimeline,
  INPUT,
  type WorkflowSpec,
  type StepSpec,
  type StepRef,
  type Condition,
  type RetryPolicy,
  type FunctionSource,
  type WorkflowInfo,
  type WorkflowTrace,
  type StepTrace,
  type CallTrace,
  type EdgeTrace,
  type ApplyOptions,
  type RunOptions,
  type WorkflowRun,
} from './workflow/index.ts';
