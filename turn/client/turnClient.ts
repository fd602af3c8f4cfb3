/**
 * A TURN client (RFC 8656) on one {@link ServerConnection}, built on the relay's STUN codec
 * (`turn/stun/`) and {@link StunTransactions}. Used by the `uclient` and `stunclient` tools and by
 * the relay's tests.
 *
 * - long-term credentials (RFC 8489 §9.2): a request without credentials gets 401 with REALM and
 *   NONCE, then every request carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY; 438 Stale Nonce
 *   is retried with the new NONCE (§9.2.5); a success response to a signed request must carry a
 *   valid MESSAGE-INTEGRITY (else {@link TurnRequestError});
 * - Allocate (§7.1), Refresh (§7.2; LIFETIME 0 releases), CreatePermission (§9.1), ChannelBind
 *   (§11.1), Send indications (§10.1), ChannelData (§12.4, padded to 4 bytes on TCP/TLS per §12.5);
 * - peer data back as Data indications (§10.4) or ChannelData, to {@link TurnClient.onPeerData}.
 *
 * Request methods resolve with the final response, success or error (the caller decides; see
 * {@link expectSuccess}); they reject only when no usable response arrives.
 */
import type { TransportAddress } from '../../contracts/relay.js';
import { Attr, AttributeType, TransportProtocol, type OutgoingAttribute } from '../stun/attributes.js';
import { decodeChannelData, encodeChannelData } from '../stun/channelData.js';
import { longTermKey } from '../stun/integrity.js';
import { MethodName, StunClass, StunMethod, encodeMessage, newTransactionId, type StunMessage } from '../stun/message.js';
import { openServerConnection, type ServerConnection, type ServerConnectionOptions } from './serverConnection.js';
import { StunTransactions, type RetransmitOptions } from './transactions.js';

/** Long-term credentials. */
export interface TurnCredentials {
  username: string;
  password: string;
  /** REALM to use; default: the one from the server's 401. */
  realm?: string;
}

/** A failed TURN request: `code` is the STUN error code (0 for a missing/invalid integrity or attribute). */
export class TurnRequestError extends Error {
  constructor(
    message: string,
    readonly code: number,
    /** The response, when there was one. */
    readonly response?: StunMessage,
  ) {
    super(message);
    this.name = 'TurnRequestError';
  }
}

/**
 * Return `response` when it is a success response.
 * @throws TurnRequestError with the STUN error code (and a hint for a 401 without credentials).
 */
export function expectSuccess(response: StunMessage): StunMessage {
  if (response.cls === StunClass.SuccessResponse) return response;
  const name = MethodName[response.method] ?? `method 0x${response.method.toString(16)}`;
  const err = response.getErrorCode();
  throw new TurnRequestError(`${name} failed: ${err ? `${err.code} ${err.reason}` : 'error response without ERROR-CODE'}`, err?.code ?? 0, response);
}

/**
 * Peer data received through the relay.
 * @param via      'channel' (ChannelData) or 'indication' (Data indication).
 * @param peer     the peer (XOR-PEER-ADDRESS of a Data indication; the bound peer of a channel).
 * @param channel  the channel number for ChannelData.
 */
export type PeerDataHandler = (data: Buffer, via: 'channel' | 'indication', peer: TransportAddress | undefined, channel: number | undefined) => void;

/** Options of one transaction. */
export interface TransactOptions {
  /** Add USERNAME/REALM/NONCE and MESSAGE-INTEGRITY when the credential state is known (default true). */
  sign?: boolean;
  /** Use this transaction id (12 bytes) instead of a fresh one (e.g. to replay a request). */
  transactionId?: Buffer;
  /** Override the transaction timeout, ms. */
  timeoutMs?: number;
}

/** Options of {@link TurnClient.allocate}. */
export interface AllocateOptions {
  /** Requested LIFETIME, s (omitted when undefined: the server's default). */
  lifetime?: number;
  /** Relayed address family; 6 adds REQUESTED-ADDRESS-FAMILY (RFC 8656 §7.1), 4 sends nothing. */
  family?: 4 | 6;
  /** More attributes (EVEN-PORT, DONT-FRAGMENT, ...). */
  attributes?: OutgoingAttribute[];
}

type Attributes = OutgoingAttribute[] | ((transactionId: Buffer) => OutgoingAttribute[]);

/**
 * One TURN client: one server connection (five-tuple), at most one allocation.
 * Not reusable after {@link close}.
 */
export class TurnClient {
  readonly transactions: StunTransactions;
  /** REALM in use (from the server's 401 unless the credentials name one). */
  realm: string | undefined;
  /** The server's current NONCE. */
  nonce: string | undefined;
  /** Long-term key (RFC 8489 §9.2.2) for the credentials and realm. */
  key: Buffer | undefined;
  /** Relayed transport address from the last Allocate success response (XOR-RELAYED-ADDRESS). */
  relayed: TransportAddress | undefined;
  /** Our address as the server sees it (XOR-MAPPED-ADDRESS of the Allocate response). */
  mapped: TransportAddress | undefined;
  /** Lifetime granted by the last Allocate/Refresh, s. */
  lifetime = 0;
  /** Receive and retry counters. */
  readonly counters = { channelDataIn: 0, dataIndicationsIn: 0, unknownChannel: 0, otherMessages: 0, staleNonceRetries: 0 };
  /** Called with each piece of peer data. */
  onPeerData: PeerDataHandler = () => {};
  private readonly channels = new Map<number, TransportAddress>();

  /**
   * @param credentials  long-term credentials, or undefined (Binding only).
   * @param retransmit   RFC 8489 §6.2.1 schedule (defaults: RTO 500 ms, 7 transmissions, 39.5 s).
   */
  constructor(
    readonly connection: ServerConnection,
    public credentials: TurnCredentials | undefined,
    retransmit: RetransmitOptions = {},
  ) {
    this.transactions = new StunTransactions(connection, (buf, msg) => this.onOther(buf, msg), retransmit);
  }

  /**
   * Open a connection and a client on it.
   * @throws Error on DNS, bind or connect failure.
   */
  static async connect(options: ServerConnectionOptions, credentials?: TurnCredentials, retransmit?: RetransmitOptions): Promise<TurnClient> {
    return new TurnClient(await openServerConnection(options), credentials, retransmit);
  }

  /** Our local transport address. */
  get local(): TransportAddress {
    return this.connection.local;
  }

  /** Set when the connection has closed under us (TCP/TLS); later requests fail with it. */
  get closedError(): Error | undefined {
    return this.transactions.closedError;
  }

  private onOther(buf: Buffer, msg?: StunMessage): void {
    if (!msg) {
      const cd = decodeChannelData(buf);
      const peer = cd && this.channels.get(cd.channel);
      if (!cd || !peer) {
        this.counters.unknownChannel++;
        return;
      }
      this.counters.channelDataIn++;
      this.onPeerData(cd.data, 'channel', peer, cd.channel);
      return;
    }
    if (msg.method === StunMethod.Data && msg.cls === StunClass.Indication) {
      const data = msg.get(AttributeType.DATA);
      if (!data) {
        this.counters.otherMessages++;
        return;
      }
      let peer: TransportAddress | undefined;
      try {
        peer = msg.getXorAddress(AttributeType.XOR_PEER_ADDRESS);
      } catch {
        peer = undefined;
      }
      this.counters.dataIndicationsIn++;
      this.onPeerData(data, 'indication', peer, undefined);
      return;
    }
    this.counters.otherMessages++;
  }

  /** Whether requests can be signed now (credentials, realm, nonce and key known). */
  private get canSign(): boolean {
    return this.credentials !== undefined && this.key !== undefined && this.nonce !== undefined && this.realm !== undefined;
  }

  /**
   * One transaction, no credential handling: encode (signed with the current credential state
   * unless `sign: false`), send, wait for the response.
   * @returns the response, success or error.
   * @throws TransactionTimeoutError; Error when the connection closed.
   */
  async transact(method: number, attributes: Attributes = [], options: TransactOptions = {}): Promise<StunMessage> {
    const tid = options.transactionId ?? newTransactionId();
    const list = typeof attributes === 'function' ? attributes(tid) : [...attributes];
    const sign = options.sign !== false && this.canSign;
    if (sign) list.push(Attr.username(this.credentials!.username), Attr.realm(this.realm!), Attr.nonce(this.nonce!));
    const request = encodeMessage({ method, cls: StunClass.Request, transactionId: tid, attributes: list }, { integrityKey: sign ? this.key : undefined, fingerprint: true });
    return (await this.transactions.request(request, options.timeoutMs)).response;
  }

  /**
   * Send an already encoded request (its bytes 8..20 are the transaction id) and wait for its response.
   * @throws TransactionTimeoutError; Error when the connection closed.
   */
  async transactRaw(request: Buffer, timeoutMs?: number): Promise<StunMessage> {
    return (await this.transactions.request(request, timeoutMs)).response;
  }

  /**
   * A request with the long-term credential exchange: an unsigned request's 401 teaches REALM and
   * NONCE and the request is repeated signed; a 438 is repeated with the new NONCE (at most two
   * repeats in all). A 401 to a signed request (wrong credentials) is returned as it is.
   * @returns the final response, success or error.
   * @throws TurnRequestError (code 0) when a success response to a signed request fails MESSAGE-INTEGRITY;
   *         TransactionTimeoutError; Error when the connection closed.
   */
  async request(method: number, attributes: Attributes = [], options: Omit<TransactOptions, 'sign'> = {}): Promise<StunMessage> {
    for (let attempt = 0; ; attempt++) {
      const signed = this.canSign;
      const key = this.key;
      const res = await this.transact(method, attributes, options);
      if (res.cls === StunClass.SuccessResponse) {
        if (signed && !res.verifyIntegrity(key!)) throw new TurnRequestError(`${MethodName[method] ?? method} success response without a valid MESSAGE-INTEGRITY`, 0, res);
        return res;
      }
      const code = res.getErrorCode()?.code;
      const nonce = res.getString(AttributeType.NONCE);
      const realm = res.getString(AttributeType.REALM);
      const retry = attempt < 2 && this.credentials !== undefined && nonce !== undefined && ((code === 401 && !signed) || code === 438);
      if (!retry) return res;
      if (code === 438) this.counters.staleNonceRetries++;
      this.nonce = nonce;
      this.realm = this.credentials!.realm ?? realm ?? this.realm;
      if (this.realm !== undefined) this.key = longTermKey(this.credentials!.username, this.realm, this.credentials!.password);
    }
  }

  /**
   * Allocate a UDP relayed transport address (RFC 8656 §7.1); on success records
   * {@link relayed}, {@link mapped} and {@link lifetime}.
   * @returns the final response.
   */
  async allocate(options: AllocateOptions = {}): Promise<StunMessage> {
    const res = await this.request(StunMethod.Allocate, () => {
      const a = [Attr.requestedTransport(TransportProtocol.UDP), ...(options.attributes ?? [])];
      if (options.lifetime !== undefined) a.push(Attr.lifetime(options.lifetime));
      if (options.family === 6) a.push(Attr.requestedAddressFamily(6));
      return a;
    });
    if (res.cls === StunClass.SuccessResponse) {
      this.relayed = res.getXorAddress(AttributeType.XOR_RELAYED_ADDRESS);
      this.mapped = res.getXorAddress(AttributeType.XOR_MAPPED_ADDRESS);
      this.lifetime = res.getUint32(AttributeType.LIFETIME) ?? 0;
    }
    return res;
  }

  /**
   * Allocate and return the relayed transport address.
   * @throws TurnRequestError on an error response (a 401 without credentials says so) or without XOR-RELAYED-ADDRESS.
   */
  async allocateRelayed(options: AllocateOptions = {}): Promise<TransportAddress> {
    const res = await this.allocate(options);
    if (res.getErrorCode()?.code === 401 && !this.credentials) throw new TurnRequestError('Allocate: 401 Unauthorized (the server wants credentials)', 401, res);
    expectSuccess(res);
    if (!this.relayed) throw new TurnRequestError('Allocate success response without XOR-RELAYED-ADDRESS', 0, res);
    return this.relayed;
  }

  /**
   * Refresh the allocation (RFC 8656 §7.2); LIFETIME 0 deletes it, none asks for the default.
   * @param timeoutMs  transaction timeout override, ms.
   * @returns the final response (records {@link lifetime} on success).
   */
  async refresh(lifetime?: number, timeoutMs?: number): Promise<StunMessage> {
    const res = await this.request(StunMethod.Refresh, lifetime === undefined ? [] : [Attr.lifetime(lifetime)], { timeoutMs });
    if (res.cls === StunClass.SuccessResponse) this.lifetime = res.getUint32(AttributeType.LIFETIME) ?? 0;
    return res;
  }

  /** Install permissions for these peers (RFC 8656 §9.1; the server ignores the port). @returns the final response. */
  createPermission(...peers: TransportAddress[]): Promise<StunMessage> {
    return this.request(StunMethod.CreatePermission, (tid) => peers.map((p) => Attr.xorPeerAddress(p, tid)));
  }

  /** Bind `channel` (0x4000–0x4FFF) to `peer` (RFC 8656 §11.1); ChannelData on it is delivered once bound. @returns the final response. */
  async channelBind(channel: number, peer: TransportAddress): Promise<StunMessage> {
    const res = await this.request(StunMethod.ChannelBind, (tid) => [Attr.channelNumber(channel), Attr.xorPeerAddress(peer, tid)]);
    if (res.cls === StunClass.SuccessResponse) this.channels.set(channel, { ...peer });
    return res;
  }

  /** Send data to `peer` in a Send indication (RFC 8656 §10.1); no response. */
  sendIndication(peer: TransportAddress, data: Buffer): void {
    const tid = newTransactionId();
    this.connection.send(encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: tid, attributes: [Attr.xorPeerAddress(peer, tid), Attr.data(data)] }));
  }

  /** Send data on a bound channel as ChannelData (RFC 8656 §12.4; padded on TCP/TLS, §12.5). */
  sendChannelData(channel: number, data: Buffer): void {
    this.connection.send(encodeChannelData(channel, data, this.connection.stream));
  }

  /** Send raw bytes (any message, or part of the byte stream on TCP/TLS). */
  sendRaw(buf: Buffer): void {
    this.connection.send(buf);
  }

  /** Close the connection (does not release the allocation: `refresh(0)` first). */
  close(): void {
    this.transactions.failAll(new Error('client closed'));
    this.connection.close();
  }
}
