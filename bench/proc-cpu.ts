/**
 * CPU time of a process (or one of its threads) as Linux reports it in /proc, for the
 * benchmarks that run the service and the simulators in processes of their own.
 */
import { readdir, readFile } from 'node:fs/promises';

/** USER_HZ: /proc reports CPU time in clock ticks, 100 per second on Linux. */
const ticksPerSecond = 100;

/** user + system CPU milliseconds from the text of a `/proc/…/stat` file. */
function cpuMsOfStat(stat: string): number {
  // Fields after the ")" that ends the command name: utime and stime are 14th and 15th overall.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

/** user + system CPU milliseconds the process has used so far, all its threads. */
export async function processCpuMs(pid: number): Promise<number> {
  return cpuMsOfStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** CPU milliseconds of one process's threads, grouped the way the costs split. */
export interface ThreadGroupCpu {
  /** The JavaScript thread: the event loop. */
  main: number;
  /** Everything else: V8's helpers (GC, compilation), libuv's pool (file system), workers. */
  others: number;
}

/** The same, split into the main thread and the rest. */
export async function threadGroupCpuMs(pid: number): Promise<ThreadGroupCpu> {
  const cpu: ThreadGroupCpu = { main: 0, others: 0 };
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined) continue; // a thread that ended in between
    cpu[tid === String(pid) ? 'main' : 'others'] += cpuMsOfStat(stat);
  }
  return cpu;
}
