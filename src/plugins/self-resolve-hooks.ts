/**
 * Module resolve hooks (node:module `register`, or `registerHooks` where Node has it): `gracevisor`
 * and `gracevisor/…` imported from anywhere resolve as if imported from inside the running
 * gracevisor package, so a plugin file in any folder gets the daemon's own copy (one `GvError`
 * class, one `definePlugin`), however gracevisor was installed. See ./self-resolve.ts.
 */

/** A file inside the running package: resolving from it is a package self-reference. */
let insideURL: string | null = null;

interface ResolveContext {
  parentURL?: string | undefined;
  conditions?: readonly string[];
  importAttributes?: Record<string, string>;
}
type NextResolve<R> = (specifier: string, context?: ResolveContext) => R;

/** True for `gracevisor` and its subpaths. */
export function isSelf(specifier: string): boolean {
  return specifier === 'gracevisor' || specifier.startsWith('gracevisor/');
}

/** `register`'s entry: told which file is inside the package. */
export function initialize(data: { insideURL: string }): void {
  insideURL = data.insideURL;
}

export function resolve<R>(specifier: string, context: ResolveContext, nextResolve: NextResolve<R>): R {
  if (insideURL !== null && isSelf(specifier)) return nextResolve(specifier, { ...context, parentURL: insideURL });
  return nextResolve(specifier, context);
}
