/**
 * The TURN client library (RFC 8489 STUN, RFC 8656 TURN over UDP, TCP and TLS), used by the
 * `stunclient` and `uclient` tools and by the relay's tests:
 * - `serverConnection.ts`: the connection to a server (one five-tuple), framing on streams;
 * - `transactions.ts`: request/response matching and retransmission (RFC 8489 §6.2);
 * - `turnClient.ts`: long-term credentials, Allocate/Refresh/CreatePermission/ChannelBind, data.
 */
export { openServerConnection, resolveHost, type ServerConnection, type ServerConnectionOptions } from './serverConnection.js';
export { StunTransactions, TransactionTimeoutError, type RetransmitOptions, type TransactionResult } from './transactions.js';
export {
  TurnClient,
  TurnRequestError,
  expectSuccess,
  type AllocateOptions,
  type PeerDataHandler,
  type TransactOptions,
  type TurnCredentials,
} from './turnClient.js';
