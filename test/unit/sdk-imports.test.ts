// The SDK's layer rule (ARCHITECTURE.md: the SDK imports protocol types only; docs/client.md): what a
// browser bundle of src/client/index.ts takes from outside src/client/ is the protocol's id rules and
// client codec and the neutral backoff, nothing with I/O or a Node API. esbuild drops type-only
// imports, so protocol types (errors.ts, frames.ts) may be imported as types without showing here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('the SDK bundle', () => {
  it('takes from outside src/client/ only protocol/ids.ts, protocol/client-codec.ts and backoff.ts', async () => {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: ['src/client/index.ts'],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      metafile: true,
      logLevel: 'silent',
    });
    const outside = Object.keys(result.metafile.inputs).filter((file) => !file.startsWith('src/client/')).sort();
    assert.deepEqual(outside, ['src/backoff.ts', 'src/protocol/client-codec.ts', 'src/protocol/ids.ts']);
  });
});
