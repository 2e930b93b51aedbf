/** Plume's public API: `import { Plume } from 'plume'`. */
export { Plume, type FunctionInfo, type LogLine, type PlumeOptions } from './runtime.ts';
export type { DeployOptions } from './engine/compile.ts';
export { DEFAULT_LIMITS, type Limits } from './engine/definition.ts';
export type { InvocationResult } from './executor/executor.ts';
export { PlumeError, ErrorCodes, type ErrorCode } from './errors.ts';
export { Errno } from './host/errno.ts';
