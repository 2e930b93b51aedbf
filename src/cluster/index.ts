/** Plume processes as peers of each other (docs/dataplane.md, Peers). */
export {
  PeerClient,
  PeerServer,
  peerCallChannel,
  startPeerProcess,
  type PeerCall,
  type PeerCaller,
  type PeerGuard,
  type PeerInvocation,
  type PeerInvokeOptions,
  type PeerProcess,
  type PeerProcessOptions,
  type PeerServerOptions,
} from './peer.ts';
