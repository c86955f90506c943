/**
 * Auto mode downloads what it cannot find under the configured output folder. That is right
 * for a ComfyUI on another host; for one on this machine it usually means the folder is
 * misnamed and every file is copied through HTTP instead of renamed. Said once per backend,
 * with the folder ComfyUI itself reports when it reports one.
 */
import path from 'node:path';
import { isLoopbackUrl, readSystemStats, reportedOutputFolder } from '../comfy/reported-output-folder.js';
import type { JobResult } from '../contracts/job-view.js';
import type { StructuredLogger } from '../contracts/structured-logger.js';

export class OutputFolderAdvice {
  private readonly advised = new Set<string>();

  constructor(
    private readonly logger: StructuredLogger,
    private readonly readStats: (url: string) => Promise<unknown> = readSystemStats,
  ) {}

  /** Never throws and never delays the job: the job's files are already safe. */
  afterCollect(backend: { name: string; url: string }, configuredFolder: string | undefined, result: JobResult): void {
    if (this.advised.has(backend.name)) return;
    if (!result.files.some((file) => file.via === 'download') || !isLoopbackUrl(backend.url)) return;
    this.advised.add(backend.name);
    void this.readStats(backend.url).then((stats) => {
      const reported = reportedOutputFolder(stats);
      this.logger.warn(
        {
          backend: backend.name,
          output_directory: configuredFolder === undefined ? null : path.resolve(configuredFolder),
          comfyui_output_directory: reported ?? null,
        },
        reported
          ? `ComfyUI on this machine writes to ${reported}, not under the configured output folder: files are downloaded through /view; set comfyui.file_management.output_directory (or the backend's output_directory) to ${reported} to move them instead`
          : "ComfyUI runs on this machine but its files are not under the configured output folder: they are downloaded through /view; set comfyui.file_management.output_directory (or the backend's output_directory) to ComfyUI's output folder to move them instead",
      );
    });
  }
}
