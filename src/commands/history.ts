/** `rb history` and `rb show <run>`: read the journal. Light: no listr2, execa or zod. */
import { findRepo } from '../repo.js';
import { effectiveStatus, findRun, listRuns, type RunRecord } from '../journal/journal.js';
import { ago, duration, print, printJson, stepLine, table, terminalWidth } from '../ui/format.js';
import { UsageError } from '../errors.js';
import { chainMarks, chainPosition, type ChainMark, type ChainPosition } from '../journal/chain.js';

export async function historyCommand(opts: { limit?: string; json?: boolean; team?: boolean }, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  const limit = Number(opts.limit ?? 20);
  if (!Number.isInteger(limit) || limit <= 0) throw new UsageError(`--limit takes a positive whole number, got "${opts.limit}"`, { next: 'rb history --limit 20' });
  if (opts.team) return teamHistory(repo, limit, Boolean(opts.json));
  const all = listRuns(repo);
  const runs = all.slice(0, limit);
  // the chain is read from every run, whatever the limit
  const marks = chainMarks(all);
  const position = chainPosition(all);
  if (opts.json) {
    printJson({ runs: runs.map((r) => ({ ...summary(r), chain: marks.get(r.id) })), position, total: all.length, limit });
    return 0;
  }
  if (!runs.length) {
    print('No runs yet. Preview one with `rb plan emergency`, or list playbooks with `rb playbooks`.');
    return 0;
  }
  // where the working copy stands first: the table's last line may be the note that rows were cut
  print(wrap(positionText(position), terminalWidth()));
  print(
    table(
      runs.map((r) => [marks.get(r.id)!.current ? '@' : '', r.id, effectiveStatus(r) + (r.undoneBy ? ` (by ${r.undoneBy})` : ''), r.playbook, chainText(marks.get(r.id)!), duration(r.durationMs), ago(r.startedAt), r.snapshot ?? '-']),
      ['', 'RUN', 'STATUS', 'PLAYBOOK', 'CHAIN', 'TOOK', 'STARTED', 'SNAPSHOT'],
      { keep: [0, 1] },
    ),
  );
  if (all.length > runs.length) print(`Showing the ${runs.length} most recent of ${all.length} runs: \`rb history --limit ${all.length}\` lists them all.`);
  return 0;
}

/** What a run did in the undo chain, in a few words (an empty cell for a plain run). */
function chainText(m: ChainMark): string {
  if (m.role === 'undo') return `undid ${m.of}${m.undoneBy ? `; reversed by ${m.undoneBy}` : ''}`;
  if (m.role === 'redo') return `redid ${m.of ?? '?'} (reversed ${m.reverses})`;
  if (m.role === 'abort') return `aborted ${m.of}`;
  return m.undoneBy ? `undone` : '';
}

/** Lines wrapped at spaces to `width` (none: as they are), continuing with two spaces. */
function wrap(text: string, width: number | null): string {
  if (!width) return text;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    let cur = '';
    for (const word of line.split(' ')) {
      if (cur && (cur + ' ' + word).length > width) {
        out.push(cur);
        cur = '   ' + word;
      } else cur = cur ? `${cur} ${word}` : word;
    }
    out.push(cur);
  }
  return out.join('\n');
}

/** Where the working copy stands in the chain, and what undo and redo do next. */
function positionText(p: ChainPosition): string {
  const where = p.at === null
    ? 'no run has changed it yet'
    : p.after && p.before
      ? `after run ${p.after}, before run ${p.before} (undone)`
      : p.after
        ? `after run ${p.after}`
        : p.before
          ? `before run ${p.before} (undone, as is every run since)`
          : `as run ${p.at} left it`;
  const lines = [`@ the working copy (as of run ${p.at ?? '-'}): ${where}`];
  const undo = p.nextUndo ? `\`rb undo\` takes back run ${p.nextUndo}` : 'nothing to undo';
  const redo = p.nextRedo ? `\`rb redo\` brings back run ${p.nextRedo.brings} (undone by ${p.nextRedo.undo})` : p.redoEndedBy ? `nothing to redo (run ${p.redoEndedBy} came after the last undo)` : 'nothing to redo';
  lines.push(`  ${undo}; ${redo}`);
  return lines.join('\n');
}

/** `rb history --team`: every clone's runs (records fetched by rb sync), with who ran them and where. */
async function teamHistory(repo: ReturnType<typeof findRepo>, limit: number, json: boolean): Promise<number> {
  const { teamRuns } = await import('../records/team.js');
  const all = await teamRuns(repo);
  const runs = all.slice(0, limit);
  const clones = new Set(all.map((r) => r.writer)).size;
  if (json) {
    printJson({ runs: runs.map((t) => ({ ...summary(t.run as RunRecord), status: t.status, writer: t.writer, mine: t.mine, user: t.run.user, host: t.run.host })), total: all.length, limit, clones });
    return 0;
  }
  if (!runs.length) {
    print('No runs recorded in this clone or fetched from the team yet: `rb sync` fetches the team\'s records.');
    return 0;
  }
  print(
    table(
      runs.map((t) => [t.run.id, t.status, t.run.playbook, who(t), duration(t.run.durationMs), ago(t.run.startedAt)]),
      ['RUN', 'STATUS', 'PLAYBOOK', 'WHO', 'TOOK', 'STARTED'],
    ),
  );
  print(`${all.length} run(s) from ${clones} clone(s)${all.length > runs.length ? `; showing the ${runs.length} most recent (\`rb history --team --limit ${all.length}\`)` : ''}. A teammate's run is read-only here: \`rb show <run>\` shows it.`);
  return 0;
}

function who(t: { mine: boolean; writer: string; run: { user: { name: string | null; os: string }; host: string } }): string {
  return t.mine ? 'you (this clone)' : `${t.run.user.name ?? t.run.user.os}@${t.run.host} [${t.writer.slice(0, 6)}]`;
}

export function summary(r: RunRecord) {
  return {
    id: r.id,
    playbook: r.playbook,
    title: r.title,
    level: r.level ?? null,
    status: effectiveStatus(r),
    startedAt: r.startedAt,
    endedAt: r.endedAt ?? null,
    durationMs: r.durationMs ?? null,
    snapshot: r.snapshot,
    reason: r.reason ?? null,
    undoOf: r.undoOf ?? null,
    undoneBy: r.undoneBy ?? null,
    report: r.report ?? null,
  };
}

export async function showCommand(id: string, opts: { json?: boolean }, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  const local = id.includes('/') ? null : findRun(repo, id);
  const shared = local ? null : await teammateRun(repo, id);
  const run = (local ?? shared?.run) as RunRecord;
  const status = local ? effectiveStatus(local) : shared!.status;
  if (opts.json) {
    printJson({ run: { ...run, status }, ...(shared ? { writer: shared.writer, mine: shared.mine } : {}) });
    return 0;
  }
  const out: string[] = [];
  out.push(`Run ${run.id}: ${run.title} (playbook ${run.playbook}${run.level ? `, level ${run.level}` : ''})`);
  if (shared && !shared.mine) out.push(`  shared:   a teammate's run (writer ${shared.writer}), from refs/rb/records/ — read-only here: undo stays on the machine that ran it`);
  out.push(`  status:   ${status}${run.undoneBy ? `, undone by ${run.undoneBy}` : ''}${run.undoOf ? ` (undo of ${run.undoOf})` : ''}`);
  out.push(`  started:  ${run.startedAt} by ${run.user.name ?? run.user.os} on ${run.host}${run.pid ? ` (pid ${run.pid})` : ''}`);
  out.push(`  took:     ${duration(run.durationMs)}`);
  out.push(`  baseline: ${run.baseline.name}${run.baseline.oid ? ` at ${run.baseline.oid.slice(0, 12)}` : ''}`);
  out.push(`  HEAD:     ${fmtHead(run.head.before)} -> ${run.head.after ? fmtHead(run.head.after) : '?'}`);
  if (Object.keys(run.params).length) out.push(`  params:   ${JSON.stringify(run.params)}`);
  if (run.reason) out.push(`  reason:   ${run.reason}`);
  out.push(`  snapshot: ${run.snapshot ?? '(none)'}`);
  if (run.report) out.push(`  report:   ${run.report}`);
  if (run.error) out.push(`  error:    ${run.error.message}`);
  out.push('', 'Steps:');
  for (const s of run.steps) {
    const ind = s.group ? '    ' : '  ';
    out.push(`${ind}${mark(s.status)} ${s.id} — ${s.title} [${s.kind}] ${s.status}${s.durationMs !== undefined ? ` in ${duration(s.durationMs)}` : ''}`);
    for (const c of s.commands ?? s.planned) out.push(`${ind}    ${stepLine(c)}`);
    if (s.error) out.push(`${ind}    error: ${s.error}`);
    for (const w of s.warnings ?? []) out.push(`${ind}    warning: ${w}`);
  }
  if (run.warnings.length) out.push('', 'Warnings:', ...run.warnings.map((w) => `  ${w}`));
  print(out.join('\n'));
  return 0;
}

/** A run that is not in this clone's journal, from the shared records (rb sync). */
async function teammateRun(repo: ReturnType<typeof findRepo>, id: string) {
  const { findTeamRun } = await import('../records/team.js');
  const found = await findTeamRun(repo, id);
  if (!found.length) throw new UsageError(`no run "${id}" in this repository or in the records fetched from the team.`, { next: 'run `rb history --team` to list runs (`rb sync` fetches the team\'s)' });
  if (found.length > 1) {
    throw new UsageError(`${found.length} clones have a run "${id}": name one as <writer>/${id}.`, { details: found.map((f) => `${f.writer}/${f.run.id}  ${f.run.user.name ?? f.run.user.os}@${f.run.host}`), next: `rb show ${found[0]!.writer}/${id}` });
  }
  return found[0]!;
}

function fmtHead(h: { ref: string | null; oid: string | null }): string {
  return `${h.ref ? h.ref.replace(/^refs\/heads\//, '') : '(detached)'} ${h.oid ? h.oid.slice(0, 12) : '(unborn)'}`;
}

function mark(s: string): string {
  return s === 'succeeded' ? '✔' : s === 'failed' ? '✖' : s === 'skipped' ? '↓' : s === 'running' ? '…' : '·';
}
