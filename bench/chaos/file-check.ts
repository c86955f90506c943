/**
 * "Every completed job has exactly its files with matching checksums": for each completed
 * job, the result's files, the metadata sidecar's list and the bytes on disk must agree
 * (sha256 recomputed here), and no other file in the conversation folders may claim to be
 * that job's. Files left by failed jobs are listed, not judged: a failed move keeps
 * ComfyUI's copy, and the report says whether anything was left in the data folder.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { z } from 'zod';

const resultSchema = z.object({
  files: z.array(
    z.looseObject({
      path: z.string(),
      sha256: z.string(),
      bytes: z.number(),
      /** An image's thumbnail, written beside it with the same durability: a file of the job too. */
      thumbnail: z.looseObject({ path: z.string(), bytes: z.number() }).nullish(),
    }),
  ),
  metadataPath: z.string(),
});
const sidecarSchema = z.looseObject({
  job_id: z.string(),
  files: z.array(z.looseObject({ path: z.string(), sha256: z.string() })),
});

export interface CompletedJob {
  jobId: string;
  result: unknown;
}

export interface FileResult {
  completedJobs: number;
  filesVerified: number;
  /** Completed jobs with any mismatch (missing file, wrong sha256, sidecar disagreeing, no files). */
  badJobs: number;
  /** Files in the conversation folders that belong to no completed job, by the job state owning them. */
  leftovers: { ofCompletedJobs: number; ofFailedJobs: number; unattributed: number };
  examples: { bad: string[]; leftovers: string[] };
}

async function sha256Of(path: string): Promise<string | undefined> {
  try {
    return createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  } catch {
    return undefined;
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  return out;
}

async function problemsOf(dataDir: string, job: CompletedJob, claimed: Set<string>): Promise<string[]> {
  const result = resultSchema.safeParse(job.result);
  if (!result.success) return ['result missing or malformed'];
  const problems: string[] = [];
  if (result.data.files.length === 0) problems.push('completed without files');
  const sidecarPath = isAbsolute(result.data.metadataPath) ? result.data.metadataPath : join(dataDir, result.data.metadataPath);
  claimed.add(sidecarPath);
  let sidecar: z.infer<typeof sidecarSchema> | undefined;
  try {
    sidecar = sidecarSchema.parse(JSON.parse(await readFile(sidecarPath, 'utf8')));
  } catch (error) {
    problems.push(`sidecar unreadable: ${(error as Error).message}`);
  }
  if (sidecar && sidecar.job_id !== job.jobId) problems.push(`sidecar names job ${sidecar.job_id}`);
  const listed = new Map((sidecar?.files ?? []).map((f) => [f.path, f.sha256]));
  if (sidecar && listed.size !== result.data.files.length) problems.push(`sidecar lists ${listed.size} files, result ${result.data.files.length}`);
  for (const file of result.data.files) {
    const absolute = join(dataDir, file.path);
    claimed.add(absolute);
    if (sidecar && listed.get(file.path) !== file.sha256) problems.push(`${file.path}: sidecar sha256 differs from the result`);
    const actual = await sha256Of(absolute);
    if (actual === undefined) problems.push(`${file.path}: missing on disk`);
    else if (actual !== file.sha256) problems.push(`${file.path}: sha256 on disk differs`);
    if (file.thumbnail) {
      const thumbnail = join(dataDir, file.thumbnail.path);
      claimed.add(thumbnail);
      const size = await stat(thumbnail).then(
        (s) => s.size,
        () => undefined,
      );
      if (size === undefined) problems.push(`${file.thumbnail.path}: thumbnail missing on disk`);
      else if (size !== file.thumbnail.bytes) problems.push(`${file.thumbnail.path}: thumbnail is ${size} bytes, result says ${file.thumbnail.bytes}`);
    }
  }
  return problems;
}

export async function checkFiles(dataDir: string, completed: CompletedJob[], failedJobIds: Set<string>): Promise<FileResult> {
  const claimed = new Set<string>();
  const bad: string[] = [];
  let filesVerified = 0;
  for (const job of completed) {
    const problems = await problemsOf(dataDir, job, claimed);
    if (problems.length > 0) bad.push(`${job.jobId}: ${problems.join('; ')}`);
    else filesVerified += resultSchema.parse(job.result).files.length;
  }
  const completedIds = new Set(completed.map((j) => j.jobId));
  const leftovers = { ofCompletedJobs: 0, ofFailedJobs: 0, unattributed: 0 };
  const leftoverExamples: string[] = [];
  for (const path of await listFiles(join(dataDir, 'conversations'))) {
    if (claimed.has(path)) continue;
    const name = relative(dataDir, path);
    const owner = [...completedIds].find((id) => name.includes(id))
      ? 'ofCompletedJobs'
      : [...failedJobIds].find((id) => name.includes(id))
        ? 'ofFailedJobs'
        : 'unattributed';
    leftovers[owner]++;
    if (leftoverExamples.length < 5) leftoverExamples.push(`${name} (${owner})`);
  }
  return { completedJobs: completed.length, filesVerified, badJobs: bad.length, leftovers, examples: { bad: bad.slice(0, 5), leftovers: leftoverExamples } };
}
