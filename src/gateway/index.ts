/** The HTTP gateway: `startGateway(plume, options)` serves a runtime over HTTP (docs/gateway.md). */
export { startGateway, type Gateway, type GatewayOptions } from './server.ts';
export { GatewayMetrics, type MetricsSource, type PoolCounts } from './metrics.ts';
export type { GatewayRuntime } from './context.ts';
export type { AsyncCallOptions } from './async-calls.ts';
