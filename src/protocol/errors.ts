// Moved to src/errors.ts (a neutral module auth/, chat/, protocol/ and the SDK all share); this
// re-export keeps in-flight branches compiling until their imports are updated.
export * from '../errors.js';
