/**
 * A minimal TURN client session (RFC 8656) for the `uclient` load/echo tool, built on the relay's
 * STUN codec (`turn/stun/`) and {@link StunTransactions}:
 *
 * - long-term credentials (RFC 8489 §9.2): first Allocate without credentials, 401 gives REALM and
 *   NONCE, then every request carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY; 438 Stale Nonce
 *   is retried with the new NONCE (§9.2.5); every response to an authenticated request must carry a
 *   valid MESSAGE-INTEGRITY (else the request fails);
 * - Allocate (§7.1), Refresh (§7.2; LIFETIME 0 releases), CreatePermission (§9.1), ChannelBind (§11.1),
 *   Send indications (§10.1), ChannelData (§12.4, padded to 4 bytes on TCP/TLS per §12.5);
 * - peer data back as Data indications (§10.4) or ChannelData.
 */
import type { TransportAddress } from '../stun/address.js';
import {
  Attr,
  AttributeType,
  StunClass,
  StunMethod,
  TransportProtocol,
  decodeChannelData,
  encodeChannelData,
  encodeMessage,
  longTermKey,
  newTransactionId,
  type OutgoingAttribute,
  type StunMessage,
} from '../stun/index.js';
import type { ClientTransport, RetransmitOptions, TransactionResult } from './clientTransport.js';
import { StunTransactions } from './clientTransport.js';

/** Long-term credentials for the session. */
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
  ) {
    super(message);
    this.name = 'TurnRequestError';
  }
}

/** Method names for messages. */
const METHOD: Record<number, string> = {
  [StunMethod.Allocate]: 'Allocate',
  [StunMethod.Refresh]: 'Refresh',
  [StunMethod.CreatePermission]: 'CreatePermission',
  [StunMethod.ChannelBind]: 'ChannelBind',
};

/** Peer data received through the relay. */
export type PeerDataHandler = (data: Buffer, via: 'channel' | 'indication', peer?: TransportAddress) => void;

/**
 * One TURN client: one transport (five-tuple), at most one allocation.
 * Not reusable after {@link close}.
 */
export class TurnClientSession {
  private readonly tx: StunTransactions;
  private realm: string | undefined;
  private nonce: string | undefined;
  private key: Buffer | undefined;
  private readonly channels = new Map<number, string>();
  /** Relayed transport address from the Allocate success response (XOR-RELAYED-ADDRESS). */
  relayed: TransportAddress | undefined;
  /** Our address as the server sees it (XOR-MAPPED-ADDRESS of the Allocate response). */
  mapped: TransportAddress | undefined;
  /** Lifetime granted by the last Allocate/Refresh, s. */
  lifetime = 0;
  /** Counters for the report. */
  readonly counters = { channelDataIn: 0, dataIndicationsIn: 0, unknownChannel: 0, otherMessages: 0, staleNonceRetries: 0 };
  /** Called with each piece of peer data. */
  onPeerData: PeerDataHandler = () => {};

  constructor(
    readonly transport: ClientTransport,
    private readonly credentials: TurnCredentials | undefined,
    retransmit: RetransmitOptions = {},
  ) {
    this.tx = new StunTransactions(transport, (buf, msg) => this.handleOther(buf, msg), retransmit);
  }

  /** Whether the transport has closed under us (TCP/TLS). */
  get closedError(): Error | undefined {
    return this.tx.closedError;
  }

  private handleOther(buf: Buffer, msg?: StunMessage): void {
    if (!msg) {
      const cd = decodeChannelData(buf);
      if (!cd || !this.channels.has(cd.channel)) {
        this.counters.unknownChannel++;
        return;
      }
      this.counters.channelDataIn++;
      this.onPeerData(cd.data, 'channel');
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
      this.onPeerData(data, 'indication', peer);
      return;
    }
    this.counters.otherMessages++;
  }

  /**
   * Send a request, handling 401 (learn REALM/NONCE, add credentials) and 438 (new NONCE), at
   * most 3 retries. Responses to authenticated requests must carry a valid MESSAGE-INTEGRITY.
   * @returns the success response.
   * @throws TurnRequestError on an error response or a bad response; TransactionTimeoutError on no response.
   */
  private async request(method: number, attrs: (tid: Buffer) => OutgoingAttribute[], timeoutMs?: number): Promise<TransactionResult> {
    const name = METHOD[method] ?? `method 0x${method.toString(16)}`;
    for (let attempt = 0; ; attempt++) {
      const tid = newTransactionId();
      const list = attrs(tid);
      const authed = this.credentials !== undefined && this.key !== undefined && this.nonce !== undefined;
      if (authed) list.push(Attr.username(this.credentials!.username), Attr.realm(this.realm!), Attr.nonce(this.nonce!));
      const request = encodeMessage({ method, cls: StunClass.Request, transactionId: tid, attributes: list }, { integrityKey: authed ? this.key : undefined, fingerprint: true });
      const result = await this.tx.request(request, timeoutMs);
      const res = result.response;
      if (res.cls === StunClass.SuccessResponse) {
        if (authed && !res.verifyIntegrity(this.key!)) throw new TurnRequestError(`${name} success response without a valid MESSAGE-INTEGRITY`, 0);
        return result;
      }
      const err = res.getErrorCode();
      const code = err?.code ?? 0;
      const nonce = res.getString(AttributeType.NONCE);
      const realm = res.getString(AttributeType.REALM);
      if (attempt < 3 && code === 401 && this.credentials && nonce && realm && !authed) {
        this.realm = this.credentials.realm ?? realm;
        this.nonce = nonce;
        this.key = longTermKey(this.credentials.username, this.realm, this.credentials.password);
        continue;
      }
      if (attempt < 3 && code === 438 && nonce) {
        this.counters.staleNonceRetries++;
        this.nonce = nonce;
        if (realm && !this.credentials?.realm) this.realm = realm;
        if (this.credentials && this.realm) this.key = longTermKey(this.credentials.username, this.realm, this.credentials.password);
        continue;
      }
      if (code === 401 && !this.credentials) throw new TurnRequestError(`${name}: 401 Unauthorized (the server wants credentials: -u/-w or -W)`, 401);
      throw new TurnRequestError(`${name} failed: ${err ? `${err.code} ${err.reason}` : 'error response without ERROR-CODE'}`, code);
    }
  }

  /**
   * Allocate a UDP relayed transport address (RFC 8656 §7.1).
   * @param lifetimeS  requested LIFETIME, s (omitted when undefined: server default).
   * @param family     relayed address family; 6 adds REQUESTED-ADDRESS-FAMILY (RFC 8656 §7.1), 4 is the default and sends nothing.
   * @returns the relayed address.
   * @throws TurnRequestError / TransactionTimeoutError.
   */
  async allocate(lifetimeS?: number, family: 4 | 6 = 4): Promise<TransportAddress> {
    const { response } = await this.request(StunMethod.Allocate, () => {
      const a = [Attr.requestedTransport(TransportProtocol.UDP)];
      if (lifetimeS !== undefined) a.push(Attr.lifetime(lifetimeS));
      if (family === 6) a.push(Attr.requestedAddressFamily(6));
      return a;
    });
    const relayed = response.getXorAddress(AttributeType.XOR_RELAYED_ADDRESS);
    if (!relayed) throw new TurnRequestError('Allocate success response without XOR-RELAYED-ADDRESS', 0);
    this.relayed = relayed;
    this.mapped = response.getXorAddress(AttributeType.XOR_MAPPED_ADDRESS);
    this.lifetime = response.getUint32(AttributeType.LIFETIME) ?? 0;
    return relayed;
  }

  /**
   * Refresh the allocation (RFC 8656 §7.2); `lifetimeS` 0 deletes it.
   * @param timeoutMs  per-transaction timeout override, ms.
   * @returns the granted lifetime, s.
   */
  async refresh(lifetimeS: number, timeoutMs?: number): Promise<number> {
    const { response } = await this.request(StunMethod.Refresh, () => [Attr.lifetime(lifetimeS)], timeoutMs);
    this.lifetime = response.getUint32(AttributeType.LIFETIME) ?? 0;
    return this.lifetime;
  }

  /** Install permissions for these peers (RFC 8656 §9.1; port ignored by the server). */
  async createPermission(peers: TransportAddress[]): Promise<void> {
    await this.request(StunMethod.CreatePermission, (tid) => peers.map((p) => Attr.xorPeerAddress(p, tid)));
  }

  /** Bind `channel` (0x4000–0x4FFF) to `peer` (RFC 8656 §11.1). */
  async channelBind(channel: number, peer: TransportAddress): Promise<void> {
    await this.request(StunMethod.ChannelBind, (tid) => [Attr.channelNumber(channel), Attr.xorPeerAddress(peer, tid)]);
    this.channels.set(channel, `${peer.address}:${peer.port}`);
  }

  /** Send data to `peer` in a Send indication (RFC 8656 §10.1); no response. */
  sendIndication(peer: TransportAddress, data: Buffer): void {
    const tid = newTransactionId();
    this.transport.send(encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: tid, attributes: [Attr.xorPeerAddress(peer, tid), Attr.data(data)] }));
  }

  /** Send data on a bound channel as ChannelData (RFC 8656 §12.4; padded on TCP/TLS, §12.5). */
  sendChannelData(channel: number, data: Buffer): void {
    this.transport.send(encodeChannelData(channel, data, this.transport.stream));
  }

  /** Close the transport (does not release the allocation: call `refresh(0)` first). */
  close(): void {
    this.tx.failAll(new Error('session closed'));
    this.transport.close();
  }
}
