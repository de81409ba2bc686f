/**
 * `npx tsx bench/run.ts [--quick] [--only image,video,hash,api,pipeline,cold]`
 *
 * Runs the benchmarks, prints a table per section and writes the results: a full run of every section
 * to bench/results/latest.{json,md} (the Markdown the README links), a --quick run to quick.{json,md},
 * a run of some sections to partial.{json,md}; every run also to bench/results/history/.
 * No thresholds fail a run: each target is reported as met or not, with the cause of a gap.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchContext } from './lib/context.ts';
import { describeMachine, type MachineInfo } from './lib/machine.ts';
import {
  renderMarkdown,
  renderText,
  SECTION_NAMES,
  type SectionName,
  type SectionResult,
  type TargetResult,
} from './lib/report.ts';
import { RuntimeSession } from './lib/runtime-session.ts';
import { RESULTS_DIR } from './lib/tools.ts';
import { runApiSection } from './sections/api.ts';
import { runColdSection } from './sections/cold.ts';
import { runHashSection } from './sections/hash.ts';
import { runImageSection } from './sections/image.ts';
import { runPipelineSection } from './sections/pipeline.ts';
import { runVideoSection } from './sections/video.ts';

const SECTIONS: Record<SectionName, (context: BenchContext) => Promise<SectionResult>> = {
  image: runImageSection,
  video: runVideoSection,
  hash: runHashSection,
  api: runApiSection,
  pipeline: runPipelineSection,
  cold: runColdSection,
};

interface Report {
  mode: 'full' | 'quick';
  command: string;
  machine: MachineInfo;
  durationMs: number;
  sections: SectionResult[];
  failures: Array<{ section: SectionName; error: string }>;
  targets: Array<TargetResult & { section: SectionName }>;
}

const parseOptions = () => {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } },
    strict: true,
  });
  const requested = values.only ? values.only.split(',').map((name) => name.trim()) : [...SECTION_NAMES];
  const unknown = requested.filter((name) => !(SECTION_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(`unknown section(s): ${unknown.join(', ')}; choose from ${SECTION_NAMES.join(', ')}`);
  }
  // Always in the canonical order: the runtime sections come after the in-process ones.
  const only = SECTION_NAMES.filter((name) => requested.includes(name));
  return { quick: values.quick ?? false, only };
};

const STATUS_MARK: Record<TargetResult['status'], string> = {
  met: '✅ met',
  'not met': '❌ not met',
  'not evaluated': '➖ not evaluated',
};

const machineRows = (machine: MachineInfo): string[][] => [
  ['date', machine.date],
  ['CPU', `${machine.cpuModel}, ${machine.cores} cores`],
  ['memory', `${machine.memoryGiB} GiB`],
  ['load average at start (1, 5, 15 min)', machine.loadAverageAtStart.join(', ')],
  ['Node', machine.node],
  ['sharp / libvips', `${machine.sharp} / ${machine.libvips}`],
  ['ffmpeg (installer, the video layer)', machine.ffmpeg],
  ['ffprobe (installer)', machine.ffprobe],
  ['Pillow', machine.pillow],
  ['vipsthumbnail (Debian libvips)', machine.vipsthumbnail],
  ['openssl', machine.openssl],
  ['commit', machine.commit],
];

const markdown = (report: Report): string => {
  const lines: string[] = [
    `# Benchmarks: ${report.mode === 'quick' ? 'quick run (smoke test, not a measurement)' : 'latest run'}`,
    '',
    `\`${report.command}\` took ${(report.durationMs / 60_000).toFixed(1)} min. Every figure is a median with its min–max over repeats; ratios compare methods measured side by side in the same run. The machine is shared and noisy: read the ratios, not a lone absolute time.`,
    '',
    '| machine | |',
    '| --- | --- |',
    ...machineRows(report.machine).map(([key, value]) => `| ${key} | ${value} |`),
    '',
    '## Targets',
    '',
    '| target | measured | status | cause of the gap, or what to know |',
    '| --- | --- | --- | --- |',
    ...report.targets.map((target) =>
      `| ${target.target} | ${target.measured} | ${STATUS_MARK[target.status]} | ${target.cause ?? ''} |`.replace(
        /\n/g,
        ' ',
      ),
    ),
    '',
  ];
  for (const failure of report.failures) {
    lines.push(`**The ${failure.section} section failed:** ${failure.error}`, '');
  }
  for (const section of report.sections) {
    lines.push(`## ${section.title}`, '', `(${(section.durationMs / 1000).toFixed(0)} s)`, '');
    for (const table of section.tables) lines.push(renderMarkdown(table), '');
    for (const note of section.notes) lines.push(`- ${note}`);
    if (section.notes.length > 0) lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
};

// The SDK announces on Node 20 that its 2027 releases need Node 22 (as local/main.ts, not news here).
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (!warning.message.includes('NodeVersionSupportWarning'))
    for (const listener of printWarning) listener(warning);
});

const main = async () => {
  const { quick, only } = parseOptions();
  const started = Date.now();
  const log = (message: string) => process.stderr.write(`· ${message}\n`);
  const machine = await describeMachine();
  process.stdout.write(
    `${renderText({ title: 'Machine', columns: ['', ''], rows: machineRows(machine) })}\n\n`,
  );

  let session: Promise<RuntimeSession> | undefined;
  const context: BenchContext = {
    quick,
    log,
    runtime: () => {
      if (!session) {
        log('starting the local runtime (synthesizes the stack when the assembly is stale)');
        const startedAt = Date.now();
        session = RuntimeSession.start(log).then((runtime) => {
          log(`local runtime ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
          return runtime;
        });
      }
      return session;
    },
  };

  const sections: SectionResult[] = [];
  const failures: Report['failures'] = [];
  try {
    for (const name of only) {
      log(`section ${name}`);
      try {
        const result = await SECTIONS[name](context);
        sections.push(result);
        for (const table of result.tables) process.stdout.write(`${renderText(table)}\n\n`);
        for (const target of result.targets) {
          process.stdout.write(`${STATUS_MARK[target.status]}: ${target.target}: ${target.measured}\n`);
        }
        process.stdout.write('\n');
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        failures.push({ section: name, error: message.split('\n').slice(0, 6).join(' ') });
        process.stderr.write(`section ${name} failed: ${message}\n`);
      }
    }
  } finally {
    if (session) await (await session.catch(() => undefined))?.stop();
  }

  const report: Report = {
    mode: quick ? 'quick' : 'full',
    command: `npx tsx bench/run.ts${quick ? ' --quick' : ''}${only.length < SECTION_NAMES.length ? ` --only ${only.join(',')}` : ''}`,
    machine,
    durationMs: Date.now() - started,
    sections,
    failures,
    targets: sections.flatMap((section) =>
      section.targets.map((target) => ({ ...target, section: section.name })),
    ),
  };
  const name = quick ? 'quick' : only.length === SECTION_NAMES.length ? 'latest' : 'partial';
  await mkdir(join(RESULTS_DIR, 'history'), { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  await writeFile(join(RESULTS_DIR, `${name}.json`), json);
  await writeFile(join(RESULTS_DIR, `${name}.md`), markdown(report));
  await writeFile(join(RESULTS_DIR, 'history', `${machine.date.replace(/[:.]/g, '-')}-${name}.json`), json);
  process.stdout.write(
    `wrote bench/results/${name}.json and ${name}.md in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
  // A worker process left behind by a failed section must not keep the benchmark from ending.
  process.exit(failures.length > 0 ? 1 : 0);
};

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
