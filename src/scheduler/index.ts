/** The scheduler: placement by affinity and load, request batching (docs/scheduler.md). */
export { Batcher, checkBatchPolicy, type BatchMode, type BatchPolicy, type BatchedResult, type BatcherOptions } from './batcher.ts';
export { adaptiveSize, ArrivalRate, ServiceModel } from './batch-model.ts';
export { functionBatcher, type FunctionBatcher } from './function-batch.ts';
export {
  checkNear,
  COLOCATE_SLACK,
  OVERDUE_FACTOR,
  OVERDUE_FLOOR_MS,
  OVERDUE_UNKNOWN_MS,
  overdueAfterMs,
  placeCall,
  TINY_CALL_US,
  TINY_PACK_LIMIT,
  type Placement,
  type PlacementDecision,
} from './placement.ts';
