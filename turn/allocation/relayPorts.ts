/**
 * The relay port range (RFC 8656 §7.2 "relayed transport address"): binds relay sockets (through
 * the data path, which owns them) on free ports in [min, max], starting at a random port (RFC 8656
 * §7.2 suggests unpredictable ports) and skipping ports this relay uses or the OS refuses
 * (EADDRINUSE, EACCES).
 */
import type { RelaySocket, RelaySocketBinder } from '../dataPath.js';

/** Thrown when no port in the range can be bound (the server answers 508). */
export class NoRelayPortError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoRelayPortError';
  }
}

/** A pool of relay ports. */
export class RelayPortPool {
  private readonly inUse = new Set<number>();

  /**
   * @param min lowest port (inclusive), 1–65535.
   * @param max highest port (inclusive), >= min.
   * @param binder binds one socket (the data path).
   * @throws RangeError on an invalid range.
   */
  constructor(
    readonly min: number,
    readonly max: number,
    private readonly binder: RelaySocketBinder,
  ) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) throw new RangeError(`bad relay port range ${min}-${max}`);
  }

  /** Ports currently bound by this pool. */
  get used(): number {
    return this.inUse.size;
  }

  /**
   * Bind a relay socket on a free port of the range.
   * @param address  local IP to bind (the relay IP).
   * @param even     only even ports (EVEN-PORT, RFC 8656 §7.2).
   * @returns the bound socket and its port.
   * @throws NoRelayPortError when every candidate port is taken; other bind errors are rethrown.
   */
  async bind(address: string, family: 4 | 6, even = false): Promise<{ socket: RelaySocket; port: number }> {
    const size = this.max - this.min + 1;
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const port = this.min + ((start + i) % size);
      if (this.inUse.has(port) || (even && port % 2 !== 0)) continue;
      this.inUse.add(port);
      let socket: RelaySocket | undefined;
      try {
        socket = await this.binder.bindRelaySocket(address, family, port);
      } catch (err) {
        this.inUse.delete(port);
        throw err;
      }
      if (socket) return { socket, port };
      this.inUse.delete(port);
    }
    throw new NoRelayPortError(`no free relay port in ${this.min}-${this.max}`);
  }

  /**
   * Bind two sockets on an even port and the next one (EVEN-PORT with the R bit, RFC 8656 §7.2):
   * the even one for the allocation, the odd one held as a reservation.
   * @throws NoRelayPortError when no such pair is free.
   */
  async bindPair(address: string, family: 4 | 6): Promise<{ socket: RelaySocket; port: number; reserved: RelaySocket; reservedPort: number }> {
    for (let attempt = 0; attempt < 64; attempt++) {
      const first = await this.bind(address, family, true);
      if (first.port + 1 > this.max || this.inUse.has(first.port + 1)) {
        this.closeAndRelease(first.socket, first.port);
        continue;
      }
      const second = await this.bindExact(address, family, first.port + 1);
      if (second) return { socket: first.socket, port: first.port, reserved: second, reservedPort: first.port + 1 };
      this.closeAndRelease(first.socket, first.port);
    }
    throw new NoRelayPortError(`no free even/odd relay port pair in ${this.min}-${this.max}`);
  }

  private async bindExact(address: string, family: 4 | 6, port: number): Promise<RelaySocket | undefined> {
    this.inUse.add(port);
    const socket = await this.binder.bindRelaySocket(address, family, port).catch(() => undefined);
    if (!socket) this.inUse.delete(port);
    return socket;
  }

  /** Close a socket from this pool and release its port. */
  closeAndRelease(socket: RelaySocket, port: number): void {
    socket.close();
    this.release(port);
  }

  /** Return a port after its socket has been closed. */
  release(port: number): void {
    this.inUse.delete(port);
  }
}
