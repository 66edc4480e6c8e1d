/**
 * `npm run dev` as a test starts it: the real bin in a child process, ready once it printed the
 * objects API's URL and "Ctrl-C stops everything", with the environment it prints for the CLI.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface DevProcess {
  readonly child: ChildProcess;
  /** The objects API, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The variables its `export NAME=value` lines set, as a shell that runs them sets them. */
  readonly env: Record<string, string>;
  /** The variables its `unset NAME` lines take out. */
  readonly unset: readonly string[];
  /** Stops it with SIGINT (as Ctrl-C does) and waits for the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `bin/dev.ts` on a free port with a 1 s sweep timer, plus `args`, with `env` set too. */
export async function startDev(
  args: readonly string[] = [],
  timeoutMs = 120_000,
  extraEnv: Record<string, string> = {},
): Promise<DevProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/dev.ts', '--port', '0', '--sweep-interval', '1s', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const waitFor = (pattern: RegExp): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = output.match(pattern);
        if (m) resolve(m);
        return m !== null;
      };
      if (check()) return;
      const timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${output}`)), timeoutMs);
      const listener = (): void => {
        if (check()) {
          clearTimeout(timer);
          child.stdout?.off('data', listener);
        }
      };
      child.stdout?.on('data', listener);
    });
  const url = (await waitFor(/objects API\s+(http:\/\/127\.0\.0\.1:\d+)/))[1]!;
  await waitFor(/Ctrl-C stops everything/);
  const env = exportedBy(output.split('\n').filter((line) => /^\s*export \w+=/.test(line)));
  const unset = [...output.matchAll(/^\s*unset ([\w ]+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    return exited;
  };
  return { child, url, env, unset, stop };
}

/** What a shell that runs `lines` (as an integrator pastes them) exports, by name. */
function exportedBy(lines: readonly string[]): Record<string, string> {
  const names = lines.map((line) => /export (\w+)=/.exec(line)![1]!);
  const script = `${lines.join('\n')}\nnode -e 'process.stdout.write(JSON.stringify(process.env))'`;
  const all = JSON.parse(spawnSync('sh', ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH } }).stdout) as Record<
    string,
    string
  >;
  return Object.fromEntries(names.map((name) => [name, all[name]!]));
}
