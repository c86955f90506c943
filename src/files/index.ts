/** The output collector: ComfyUI's files into `data/conversations/…`, with a metadata sidecar. */
export { OutputCollector, checksumOf, type OutputCollectorOptions } from './output-collector.js';
export { collectRequestSchema, type CollectRequest, type DownloadOutput } from './collect-request.schema.js';
export { classifyMedia, sniffMedia, extensionOf, type MediaClass } from './media-types.js';
export { destinationFor, sidecarDestinationFor, selectCandidates, type Destination, type DestinationInput } from './output-plan.js';
export { readImageDimensions, type ImageDimensions } from './image-dimensions.js';
export { nodeCollectorFileSystem, type CollectorFileSystem, type WritableFile, type FileFacts } from './collector-file-system.js';
export { sidecarFormat } from './metadata-sidecar.js';
export type { CollectMode } from './output-placement.js';
export { thumbnailDestinationFor, thumbnailSettingsFrom, type ThumbnailFormat, type ThumbnailSettings } from './thumbnail-writer.js';
export type { WarmRequest } from './source-warmup.js';
