/**
 * Process measurements for the benchmarks, read from Linux's /proc.
 */
import { readFileSync } from 'node:fs';

/**
 * CPU time a process has used so far: utime + stime (fields 14 and 15 of /proc/PID/stat), in
 * seconds (CLK_TCK is 100 on Linux).
 * @throws Error when the process does not exist.
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After "pid (comm) ", fields[0] is field 3 (state), so utime is fields[11] and stime fields[12].
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Resident set size of a process: `now` (VmRSS) and `peak` (VmHWM), in MB (MiB); NaN when not reported.
 * @throws Error when the process does not exist.
 */
export function rssMb(pid: number): { now: number; peak: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) / 1024;
  return { now: kb('VmRSS'), peak: kb('VmHWM') };
}
