/** Adapts the JobService's in-process notices to the JobFeed port the HTTP layer listens to. */
import type { JobServiceEventMap } from '../contracts/index.js';
import type { FeedMessage, JobFeed } from './ports.js';

/** The part of JobService this needs; typed structurally so tests can pass an emitter. */
export interface JobNoticeSource {
  on<K extends keyof JobServiceEventMap>(name: K, listener: (notice: JobServiceEventMap[K]) => void): () => void;
}

export function jobFeedFromJobService(source: JobNoticeSource, now: () => Date = () => new Date()): JobFeed {
  return {
    subscribe(listener: (msg: FeedMessage) => void): () => void {
      const offTransition = source.on('transition', (notice) => {
        listener({ type: 'transition', job: notice.job, seq: notice.seq, from: notice.from, to: notice.to, at: now().toISOString() });
      });
      const offProgress = source.on('progress', (notice) => {
        listener({
          type: 'progress',
          job_id: notice.jobId,
          conversation_id: notice.conversationId,
          progress: { value: notice.progress.value, max: notice.progress.max, node: notice.progress.node },
        });
      });
      const offPreview = source.on('preview', (notice) => {
        // Only images a page can show inline; anything else ComfyUI might stream is skipped.
        if (!/^image\/(png|jpeg|webp|gif)$/.test(notice.mediaType)) return;
        listener({
          type: 'preview',
          job_id: notice.jobId,
          conversation_id: notice.conversationId,
          node: notice.node,
          media_type: notice.mediaType,
          data_url: `data:${notice.mediaType};base64,${notice.bytes.toString('base64')}`,
        });
      });
      return () => {
        offTransition();
        offProgress();
        offPreview();
      };
    },
  };
}
