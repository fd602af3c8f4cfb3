/**
 * Prometheus metrics whose values are read at scrape time from counters kept elsewhere (the
 * signaling counters, the relay's stats): each scrape resets the metric and sets every sample the
 * reader returns, so nothing is counted twice and a label that disappeared is not reported stale.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** Label values of one sample. */
export type Labels = Record<string, string>;
/** One sample: its labels and its value. */
export type Sample = [Labels, number];

/** A gauge in `registry` set from `read()` at each scrape. */
export function pullGauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Sample[]): Gauge {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of read()) this.set(labels, v);
    },
  });
}

/** A counter in `registry` set from `read()` (running totals kept by the source) at each scrape. */
export function pullCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => Sample[]): Counter {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of read()) this.inc(labels, v);
    },
  });
}
