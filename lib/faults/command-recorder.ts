/**
 * Records every SDK command a client sends, by name with its input, under the entry point that
 * is running (`writer`, `sweeper`, `cli status`, ...). An SDK middleware placed inside the retry
 * loop, like the FaultInjector: nothing is changed, every attempt is seen, lib-storage's
 * multipart calls and the document client's commands included (they share the client's stack).
 *
 * Tests count a write path's requests with it (`names()`); the IAM test maps what it records to IAM actions (`infra/iam-map.ts`) and compares that with
 * the grants, so a call the code starts to make, or stops making, shows up as a difference.
 */
import { addInsideRetryLoop } from '../aws/retry-loop.js';
import type { AttachableClient } from './fault-injector.js';

/** One command as sent. */
export interface RecordedCommand {
  readonly service: 'dynamodb' | 's3';
  /** SDK command name without the `Command` suffix: `TransactWriteItems`, `UploadPart`. */
  readonly command: string;
  /** The command's input as the client sends it (after the document client's marshalling). */
  readonly input: Readonly<Record<string, unknown>>;
  /** The entry point that was running (see {@link CommandRecorder.during}). */
  readonly entryPoint: string;
}

/** Recorders made so far: each names its middleware apart. */
let recorders = 0;

export class CommandRecorder {
  readonly commands: RecordedCommand[] = [];
  /** This recorder's middleware name: one per recorder, so a second recorder on a client adds to it, not replaces. */
  private readonly name = `tierlogCommandRecorder-${++recorders}`;
  private current = 'unlabelled';

  /**
   * Installs the recorder on `client` (inside the SDK's retry loop). Returns the client. Attaching
   * it again to the same client changes nothing; another recorder on the same client records too.
   */
  attach<C extends AttachableClient>(client: C, service: 'dynamodb' | 's3'): C {
    const middleware =
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => {
        this.commands.push({
          service,
          command: (context.commandName ?? 'unknown').replace(/Command$/, ''),
          input: args.input,
          entryPoint: this.current,
        });
        return next(args);
      };
    addInsideRetryLoop(client.middlewareStack, this.name, middleware);
    return client;
  }

  /** Runs `fn` with commands recorded under `entryPoint` (one entry point at a time). */
  async during<T>(entryPoint: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.current;
    this.current = entryPoint;
    try {
      return await fn();
    } finally {
      this.current = previous;
    }
  }

  /** The commands recorded under `entryPoint`. */
  of(entryPoint: string): RecordedCommand[] {
    return this.commands.filter((c) => c.entryPoint === entryPoint);
  }

  /** The command names in the order sent, of one service or both. */
  names(service?: 'dynamodb' | 's3'): string[] {
    return this.commands.filter((c) => service === undefined || c.service === service).map((c) => c.command);
  }

  /** Forgets what was recorded. */
  reset(): void {
    this.commands.length = 0;
  }
}
