/**
 * A map keyed by a transport address (IP text + port) without building an `ip:port` string per
 * lookup: the per-packet path (a ChannelData datagram from a UDP client) hashes the IP string Node
 * already created and looks the port up as a small integer.
 */
export class AddressMap<V> {
  private readonly byIp = new Map<string, Map<number, V>>();
  private count = 0;

  /** The value for `ip`:`port`, if any. */
  get(ip: string, port: number): V | undefined {
    return this.byIp.get(ip)?.get(port);
  }

  /** Set the value for `ip`:`port`. */
  set(ip: string, port: number, value: V): void {
    let ports = this.byIp.get(ip);
    if (!ports) this.byIp.set(ip, (ports = new Map()));
    const before = ports.size;
    ports.set(port, value);
    this.count += ports.size - before;
  }

  /** Remove `ip`:`port`. @returns whether it was present. */
  delete(ip: string, port: number): boolean {
    const ports = this.byIp.get(ip);
    if (!ports || !ports.delete(port)) return false;
    this.count--;
    if (ports.size === 0) this.byIp.delete(ip);
    return true;
  }

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  /** Every value. */
  *values(): IterableIterator<V> {
    for (const ports of this.byIp.values()) yield* ports.values();
  }
}
