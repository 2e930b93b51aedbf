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
export {
  Membership,
  MEMBERS_CHANNEL,
  NODE_KEY_PREFIX,
  type MemberRecord,
  type MembershipOptions,
  type ReadinessCheck,
} from './membership.ts';
export { discoverMembers, type MemberDiscovery } from './membership-discovery.ts';
