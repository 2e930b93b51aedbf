/**
 * The doors a call that arrives over a peer connection meets: the same as over HTTP (docs/dataplane.md,
 * Peer security). A client's call forwarded by another node needs the function's invoke token, as its
 * HTTP request would; a node's own call (a guest's chained call, a workflow step) needs none, as a chained
 * call on one node does. Either way it takes a place at the function's door (queue bound, 429 beyond it),
 * and a function not deployed here is PLUME_ENOFUNC: a peer call is never forwarded again.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { PeerGuard } from '../cluster/peer.ts';
import type { GatewayContext } from './context.ts';
import { admitFunction, run } from './invoke-routes.ts';

export function peerGuard(ctx: GatewayContext): PeerGuard {
  return async ({ function: name, caller, run: work }) => {
    if (caller.kind === 'client') {
      const headers: IncomingHttpHeaders = caller.token === undefined ? {} : { authorization: `Bearer ${caller.token}` };
      ctx.tokens.check('function', name, headers);
    }
    admitFunction(ctx, name);
    return run(ctx, name, work);
  };
}

/** The caller of most calls: no token (one object for all of them). */
const NO_TOKEN: { token?: string } = Object.freeze({});

/** The bearer token of an HTTP request, to travel with its call if the call goes to a peer. */
export function clientOf(headers: IncomingHttpHeaders): { token?: string } {
  if (headers.authorization === undefined) return NO_TOKEN;
  const match = /^Bearer +(\S+)\s*$/i.exec(headers.authorization);
  return match ? { token: match[1]! } : NO_TOKEN;
}
