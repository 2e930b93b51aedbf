/** The byte transports that link Plume processes, in CWASI's three modes (see docs/dataplane.md). */
export type {
  ClientOptions,
  RequestHandler,
  RequestOptions,
  ServerOptions,
  Transfer,
  TransferListener,
  TransportClient,
  TransportLogEvent,
  TransportLogger,
  TransportMode,
  TransportRequest,
  TransportServer,
} from './transport.ts';
export { DEFAULT_TIMEOUT_MS, consoleLogger, errorChannel } from './transport.ts';
export { DEFAULT_MAX_PAYLOAD, FRAME_MAGIC, FRAME_VERSION, FrameDecoder, FrameType, HEADER_BYTES, MAX_FRAME_PAYLOAD } from './frame.ts';
export { DEFAULT_PEER_TIMEOUT_MS, checkPeerTimeout } from './liveness.ts';
export { createEmbeddedClient, createEmbeddedServer } from './embedded.ts';
export { createLocalClient, createLocalServer } from './local.ts';
export { createNetworkedClient, createNetworkedServer } from './networked.ts';
