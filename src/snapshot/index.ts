/**
 * The snapshot module: capture the whole working copy as one commit under
 * refs/rb/snapshots/<id>, restore it byte-exact, list / read / resolve / delete snapshots.
 * See safety.md §1 and format.ts for what a snapshot holds.
 */
export { captureSnapshot, DEFAULT_MAX_IGNORED_BYTES, DEFAULT_SKIP_IGNORED, type CaptureOptions } from './capture.js';
export { restoreSnapshot, restoreJournalPath, RESTORE_STEPS, type RestoreOptions, type RestoreResult, type RestoreStep } from './restore.js';
export { listSnapshots, readSnapshot, resolveSnapshot, deleteSnapshot } from './store.js';
export {
  SNAPSHOT_REF_PREFIX, cleanExcludes, excludePattern, isValidSnapshotId, snapshotRef,
  type SkippedEntry, type SnapshotInfo,
} from './format.js';
