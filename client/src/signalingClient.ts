/**
 * Typed Socket.IO signaling for the call page (protocol: `contracts/signaling.ts`).
 *
 * - Connects to the page's own origin (the server serves the page and Socket.IO together).
 * - Validates every incoming `message` payload with the protocol's zod schemas; invalid payloads
 *   are dropped and counted (`invalidMessages`), never passed on.
 * - Remembers the room it joined and re-joins it with the per-tab session token after every
 *   reconnect (the server keeps the seat for a grace period).
 * - Outgoing `message`s are only written while seated: while disconnected or between reconnect
 *   and `joined` they are queued (bounded) and flushed after `joined`, so the server never sees a
 *   message from a socket that has not joined yet (Socket.IO's own send buffer would flush them
 *   before our `join`).
 * - A `message` written to the socket counts as delivered only when the server acknowledges it
 *   (it acks after relaying). Messages still unacknowledged when the connection drops (written
 *   into a connection that was already dead, e.g. during a network cut) go back to the front of
 *   the queue and are sent again after the next `joined`: an ICE-restart offer made during a
 *   Socket.IO outage is not lost. A message may then arrive twice (when only the ack was lost);
 *   the call page tolerates that.
 */
import { io, type Socket } from 'socket.io-client';
import {
  IceServersInfoSchema,
  MessageDataSchema,
  RoomSchema,
  type Ack,
  type IceServersAck,
  type IceServersInfo,
  type ClientToServerEvents,
  type JoinedInfo,
  type JoinOptions,
  type MessageData,
  type ServerToClientEvents,
  type SignalingError,
} from '../../contracts/signaling.js';

/** A socket typed with the shared protocol. */
export type SignalingSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Callbacks of {@link Signaling}; each is optional. */
export interface SignalingEvents {
  /** Socket connected (first time or after a reconnect); `reconnect` is true after a drop. */
  connected?(reconnect: boolean): void;
  /** Socket lost; Socket.IO retries by itself (`reason` as Socket.IO reports it). */
  disconnected?(reason: string): void;
  /** A (re)connection attempt failed: the server is unreachable. */
  connectError?(err: Error): void;
  /** Seated in `room` (also after each automatic re-join). */
  joined?(room: string, socketId: string, info: JoinedInfo | undefined): void;
  /** The other person joined (or came back); the receiver is the member already there. */
  otherJoined?(room: string, socketId: string): void;
  /** The room already holds two people. */
  full?(room: string): void;
  /** Our own `leave` was confirmed. */
  left?(room: string): void;
  /** The other person left (or their grace period ran out). */
  bye?(room: string, socketId: string): void;
  /** The other person's connection dropped; their seat is held for `graceMs` ms. */
  otherReconnecting?(room: string, socketId: string, graceMs: number): void;
  /** A validated relayed message from the other person. */
  message?(data: MessageData): void;
  /** The server refused something (`error` event or negative acknowledgement). */
  error?(err: SignalingError): void;
  /** The server closed our connection because the same session joined from elsewhere. */
  evicted?(): void;
  /** The server announced it is shutting down; Socket.IO will reconnect after it is back. */
  restarting?(reason: string): void;
}

/** Options of {@link Signaling}. */
export interface SignalingOptions {
  /** Server URL; default: the page's origin. */
  url?: string;
  /** Per-tab session token sent with every `join` (16–64 URL-safe characters). */
  session?: string;
  /** Largest number of outgoing messages kept while not seated (default 200; the oldest are dropped). */
  maxQueued?: number;
}

interface Queued {
  data: MessageData;
  /** True when the message no longer matters (e.g. from a closed peer connection). */
  stale?: () => boolean;
}

/**
 * One signaling connection. Create it, set `events`, then call {@link Signaling.join}.
 * Never throws on bad server input: invalid payloads are dropped and counted.
 */
export class Signaling {
  readonly socket: SignalingSocket;
  events: SignalingEvents = {};
  /** Room we are (or want to be) seated in; undefined when not in a room. */
  room: string | undefined;
  /** True between `joined` and the next disconnect/leave. */
  seated = false;
  /** Incoming `message` payloads dropped by validation. */
  invalidMessages = 0;
  /** Outgoing messages dropped (queue overflow or stale). */
  droppedOutgoing = 0;
  /** Outgoing messages put back in the queue (to be sent again) because the connection dropped before the server acknowledged them. */
  resentOutgoing = 0;
  private readonly session: string | undefined;
  /** The passcode given with `join`, sent with every (re-)join ('' for none). */
  private passcode = '';
  private readonly maxQueued: number;
  private queue: Queued[] = [];
  /** Messages written to the socket and not yet acknowledged by the server, by sequence number. */
  private unacked = new Map<number, Queued>();
  private nextSeq = 1;
  private everConnected = false;
  private manualDisconnect = false;
  private paused = false;
  private restartAnnounced = false;

  /** Create the socket and start connecting at once. */
  constructor(opts: SignalingOptions = {}) {
    this.session = opts.session;
    this.maxQueued = opts.maxQueued ?? 200;
    const socket: SignalingSocket = opts.url
      ? io(opts.url, { reconnectionDelay: 500, reconnectionDelayMax: 2000, timeout: 8000 })
      : io({ reconnectionDelay: 500, reconnectionDelayMax: 2000, timeout: 8000 });
    this.socket = socket;

    socket.on('connect', () => {
      this.restartAnnounced = false;
      const reconnect = this.everConnected;
      this.everConnected = true;
      this.events.connected?.(reconnect);
      if (this.room !== undefined) this.emitJoin(this.room);
    });
    socket.on('disconnect', (reason) => {
      this.seated = false;
      this.requeueUnacked();
      if (reason === 'io server disconnect' && !this.manualDisconnect) {
        if (!this.restartAnnounced && this.room !== undefined) {
          // Closed by the server without a shutdown notice: our seat was taken over by a newer
          // connection with the same session token (another tab of this session). Do not fight.
          this.room = undefined;
          this.queue = [];
          this.unacked.clear();
          this.events.evicted?.();
          return;
        }
        // The server is shutting down: Socket.IO does not retry by itself after a server-side
        // disconnect, so start again; its backoff takes over while the server is down.
        setTimeout(() => {
          if (!this.manualDisconnect && !socket.connected) socket.connect();
        }, 500);
      }
      this.events.disconnected?.(reason);
    });
    socket.on('connect_error', (err) => this.events.connectError?.(err));

    socket.on('joined', (room, socketId, info) => {
      if (room !== this.room) return;
      this.seated = true;
      this.events.joined?.(room, socketId, isJoinedInfo(info) ? info : undefined);
      if (!this.paused) this.flush();
    });
    socket.on('otherjoin', (room, socketId) => {
      if (room === this.room) this.events.otherJoined?.(room, String(socketId));
    });
    socket.on('full', (room) => {
      if (room !== this.room) return;
      this.room = undefined;
      this.seated = false;
      this.queue = [];
      this.unacked.clear();
      this.events.full?.(String(room));
    });
    socket.on('leaved', (room) => this.events.left?.(String(room)));
    socket.on('bye', (room, socketId) => {
      if (room === this.room) this.events.bye?.(room, String(socketId));
    });
    socket.on('otherreconnecting', (room, socketId, graceMs) => {
      if (room === this.room) this.events.otherReconnecting?.(room, String(socketId), Number(graceMs) || 0);
    });
    socket.on('message', (room, data) => {
      if (room !== this.room) return;
      const parsed = MessageDataSchema.safeParse(data);
      if (!parsed.success) {
        this.invalidMessages++;
        console.warn('dropped invalid signaling message:', parsed.error.issues[0]?.message);
        return;
      }
      this.events.message?.(parsed.data);
    });
    socket.on('error', (err) => this.events.error?.(err));
    socket.on('restarting', (reason) => {
      this.restartAnnounced = true;
      this.events.restarting?.(String(reason));
    });
  }

  /** True while the socket is connected to the server. */
  get connected(): boolean {
    return this.socket.connected;
  }

  /**
   * Join `room` (and re-join it after every reconnect until {@link leave}).
   * @param passcode the room's passcode ('' or undefined: none). Sent with every re-join too, so a
   *   room re-opened after a server restart gets it again.
   * @throws Error when `room` is not 1–12 digits (see `ROOM_PATTERN`).
   */
  join(room: string, passcode = ''): void {
    const parsed = RoomSchema.safeParse(room);
    if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid room');
    this.room = parsed.data;
    this.passcode = passcode;
    this.seated = false;
    if (this.socket.connected) this.emitJoin(parsed.data);
  }

  /** Leave the current room (the other person gets `bye`); queued messages are dropped. */
  leave(): void {
    const room = this.room;
    this.room = undefined;
    this.seated = false;
    this.queue = [];
    this.unacked.clear();
    if (room !== undefined && this.socket.connected) this.socket.emit('leave', room);
  }

  /**
   * Relay `data` to the other person in the room. While not seated the message is queued and sent
   * after the next `joined`, unless `stale()` then returns true.
   */
  send(data: MessageData, stale?: () => boolean): void {
    if (this.room === undefined) return;
    if (this.seated && this.socket.connected && !this.paused) {
      this.emitMessage(this.room, { data, stale });
      return;
    }
    this.queue.push({ data, stale });
    this.trimQueue();
  }

  /**
   * Debug/test hook: hold every outgoing message (`true`) until called with `false`, which sends
   * them in order. Used to make both sides' offers cross on purpose (glare).
   */
  holdOutgoing(hold: boolean): void {
    this.paused = hold;
    if (!hold && this.seated && this.socket.connected) this.flush();
  }

  /**
   * Fresh ICE servers (TURN REST credentials) for our seat: `ice-servers(room)`, acknowledged.
   * @param timeoutMs give up after this long, ms.
   * @throws Error "not seated" when not seated on an open connection, the server's refusal code
   *   (e.g. `not-a-member`), "invalid answer", or Socket.IO's timeout error.
   */
  async iceServers(timeoutMs: number): Promise<IceServersInfo> {
    if (!this.seated || this.room === undefined || !this.socket.connected) throw new Error('not seated');
    const emit = this.socket.timeout(timeoutMs) as unknown as { emitWithAck(ev: 'ice-servers', room: string): Promise<IceServersAck> };
    const res = await emit.emitWithAck('ice-servers', this.room);
    if (!res || res.ok !== true) throw new Error(res?.error?.code ?? 'invalid answer');
    const parsed = IceServersInfoSchema.safeParse(res);
    if (!parsed.success) throw new Error('invalid answer');
    return parsed.data;
  }

  /** Close the socket for good. */
  close(): void {
    this.manualDisconnect = true;
    this.queue = [];
    this.unacked.clear();
    this.socket.disconnect();
  }

  private emitJoin(room: string): void {
    const options: JoinOptions = this.session ? { session: this.session } : {};
    if (this.passcode) options.passcode = this.passcode;
    this.socket.emit('join', room, options, (res: Ack) => {
      if (!res.ok) this.events.error?.(res.error);
    });
  }

  private emitMessage(room: string, q: Queued): void {
    const seq = this.nextSeq++;
    this.unacked.set(seq, q);
    this.socket.emit('message', room, q.data, (res: Ack) => {
      // Socket.IO drops the callbacks of a closed connection; an ack here is for this connection.
      this.unacked.delete(seq);
      if (!res.ok) {
        this.droppedOutgoing++;
        console.warn('server refused message:', res.error.reason);
      }
    });
  }

  /** The connection dropped: unacknowledged messages go back to the front of the queue, in order. */
  private requeueUnacked(): void {
    if (this.unacked.size === 0) return;
    const lost = [...this.unacked.values()];
    this.unacked.clear();
    if (this.room === undefined) return;
    this.resentOutgoing += lost.length;
    this.queue = [...lost, ...this.queue];
    this.trimQueue();
  }

  /** Keep at most `maxQueued` messages (the oldest are dropped and counted). */
  private trimQueue(): void {
    while (this.queue.length > this.maxQueued) {
      this.queue.shift();
      this.droppedOutgoing++;
    }
  }

  private flush(): void {
    const pending = this.queue;
    this.queue = [];
    for (const q of pending) {
      if (q.stale?.()) {
        this.droppedOutgoing++;
        continue;
      }
      if (this.room !== undefined) this.emitMessage(this.room, q);
    }
  }
}

function isJoinedInfo(v: unknown): v is JoinedInfo {
  return typeof v === 'object' && v !== null && typeof (v as JoinedInfo).polite === 'boolean';
}

/**
 * The per-tab session token (sessionStorage key `webrtc-call-session`): created on first use, 32
 * URL-safe random characters, survives reloads of the tab but not other tabs.
 */
export function sessionToken(): string {
  const key = 'webrtc-call-session';
  try {
    const existing = sessionStorage.getItem(key);
    if (existing && /^[A-Za-z0-9_-]{16,64}$/.test(existing)) return existing;
  } catch {
    /* storage disabled: a fresh token per page */
  }
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  const token = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  try {
    sessionStorage.setItem(key, token);
  } catch {
    /* ignore */
  }
  return token;
}
