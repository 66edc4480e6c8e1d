/**
 * `npm run dev` as a test starts it: the real bin in a child process, ready once it printed the
 * objects API's URL and "Ctrl-C stops everything", with the environment it prints for the CLI.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = createRequire(import.meta.url).resolve('tsx/cli');

export interface DevProcess {
  readonly child: ChildProcess;
  /** The objects API, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The `export NAME=value` lines it printed. */
  readonly env: Record<string, string>;
  /** Stops it with SIGINT (as Ctrl-C does) and waits for the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `bin/dev.ts` on a free port with a 1 s sweep timer, plus `args`. */
export async function startDev(args: readonly string[] = [], timeoutMs = 120_000): Promise<DevProcess> {
  const child = spawn(process.execPath, [TSX, 'bin/dev.ts', '--port', '0', '--sweep-interval', '1s', ...args], {
    cwd: ROOT,
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
  const env = Object.fromEntries([...output.matchAll(/export (\w+)=(\S*)/g)].map((m) => [m[1]!, m[2]!]));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    return exited;
  };
  return { child, url, env, stop };
}
