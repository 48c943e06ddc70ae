// Module resolution hook for running documentation examples against the source tree: the package's
// own name, `uws-chat-backend/client`, resolves to src/client/index.ts (tsx compiles it) instead of
// dist/, so an example runs as written without a build.
const CLIENT = new URL('../../src/client/index.ts', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'uws-chat-backend/client') return next(CLIENT, context); // tsx's resolver takes it from here
  return next(specifier, context);
}
