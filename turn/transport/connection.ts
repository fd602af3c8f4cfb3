/**
 * The client side of a five-tuple, independent of the transport: the relay answers requests and
 * forwards peer data through it. UDP clients are (listening socket, remote address) pairs; TCP/TLS
 * clients are connections (RFC 8656 §3.1: the allocation belongs to the connection).
 */
import type { TransportAddress, TurnTransport } from '../../contracts/relay.js';
import type { Allocation } from '../allocation/allocation.js';

/** One client five-tuple. */
export interface ClientConnection {
  readonly transport: TurnTransport;
  /** The relay address the client sent to. */
  readonly local: TransportAddress;
  /** The client's address as seen by the relay (XOR-MAPPED-ADDRESS). */
  readonly remote: TransportAddress;
  /** Human-readable five-tuple, e.g. `udp 1.2.3.4:5000->10.0.0.1:3478`. */
  readonly label: string;
  /** Whether stream framing applies (ChannelData padded to 4 bytes). */
  readonly stream: boolean;
  /** Send bytes to the client (a whole STUN message or ChannelData, already padded for streams). Never throws. */
  send(buf: Buffer): void;
  /** The allocation on this five-tuple, if any. */
  getAllocation(): Allocation | undefined;
  /** Attach/detach the allocation on this five-tuple. */
  setAllocation(allocation: Allocation | undefined): void;
  /** Whether the five-tuple is still usable (a stream connection may have closed). */
  readonly open: boolean;
}
