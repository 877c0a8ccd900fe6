import { createRequire } from 'node:module';

/**
 * The server's optional peer dependencies: each is loaded only where the setting that needs it
 * is used, so an install for one node on SQLite carries no Redis or PostgreSQL client, and an
 * install on PostgreSQL needs no native SQLite build.
 */
export type OptionalPackage = 'better-sqlite3' | 'ioredis' | 'pg';

/** An optional package a setting needs is not installed (or does not load). The message says what to run. */
export class MissingPackageError extends Error {
  constructor(
    readonly packageName: OptionalPackage,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MissingPackageError';
  }
}

/** Why a package is needed, e.g. "OPENCALL_REDIS_URL is set"; `otherwise`: another way out, e.g. "or set OPENCALL_DATABASE_URL". */
export interface NeededFor {
  why: string;
  otherwise?: string;
}

const require = createRequire(import.meta.url);

/** Loads an optional CommonJS package synchronously (for constructors), resolved from this package like a static import. */
export function requireOptional<T>(name: OptionalPackage, neededFor: NeededFor): T {
  try {
    return require(name) as T;
  } catch (err) {
    throw explain(name, neededFor, err);
  }
}

/** Loads an optional package with import(); its default export when it has one. */
export async function importOptional<T>(name: OptionalPackage, neededFor: NeededFor): Promise<T> {
  try {
    const m = (await import(name)) as { default?: T };
    return (m.default ?? m) as T;
  } catch (err) {
    throw explain(name, neededFor, err);
  }
}

function explain(name: OptionalPackage, { why, otherwise }: NeededFor, err: unknown): MissingPackageError {
  const e = err as NodeJS.ErrnoException;
  const alt = otherwise ? ` (${otherwise})` : '';
  // Only the package itself missing counts as "not installed"; a missing file inside it (a native build that failed) is reported as such.
  const notInstalled = (e?.code === 'MODULE_NOT_FOUND' || e?.code === 'ERR_MODULE_NOT_FOUND') && new RegExp(`['"]${name}['"]`).test(e.message);
  if (notInstalled) return new MissingPackageError(name, `${why} but the package '${name}' is not installed: npm install ${name}${alt}`, { cause: err });
  return new MissingPackageError(name, `${why} but the package '${name}' does not load (${e?.message ?? String(err)}): reinstall it with npm install ${name}${alt}`, { cause: err });
}
