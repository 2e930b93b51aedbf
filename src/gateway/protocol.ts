/** Names of the HTTP contract that both the gateway and its clients (the CLI) use (docs/gateway.md). */

/** Content type of `POST /system/workflows` when the body bundles the spec with the files it names. */
export const BUNDLE_TYPE = 'application/vnd.plume.workflow-bundle+json';

export const Headers = {
  /** The id of an asynchronous call (202 of `/async-function`, its result, its callback). */
  callId: 'x-call-id',
  /** Where to POST an asynchronous call's result. */
  callbackUrl: 'x-callback-url',
  /** State of an asynchronous call: pending, done or failed. */
  callStatus: 'x-call-status',
  /** On a finished async result: how many times the call was started (above 1: it ran again after its node was lost). */
  callRuns: 'x-call-runs',
  /** On a finished async result: the node that ran it. */
  callNode: 'x-call-node',
  /** On a callback: HMAC-SHA256 signature `t=<unix s>,v1=<hex>` (docs/gateway.md). */
  signature: 'x-plume-signature',
  /** On a callback: the status the synchronous call would have answered. */
  functionStatus: 'x-function-status',
  functionName: 'x-function-name',
  /** At deploy or apply: the bearer token that calls of this function or workflow will need. */
  invokeToken: 'x-plume-invoke-token',
  /** On `POST /workflow/:name`: any value but 0/false returns the trace (as `?trace=1` does). */
  trace: 'x-plume-trace',
} as const;

/**
 * `K=V` pairs into an environment: the `env` query of a deploy, and `--env` of `plume run`. `label` names
 * the option in the TypeError for a pair without a key.
 */
export function parseEnvPairs(pairs: readonly string[], label: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new TypeError(`${label} expects K=V, got '${pair}'`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}
