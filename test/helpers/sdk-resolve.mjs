// `node --import tsx --import ./test/helpers/sdk-resolve.mjs file.mjs`: see sdk-resolve-hooks.mjs.
import { register } from 'node:module';

register('./sdk-resolve-hooks.mjs', import.meta.url);
