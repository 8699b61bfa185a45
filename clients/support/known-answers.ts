// The known-answer checks every client with a JSON "jobs in, results out" entry point runs:
// RFC 9421 B.2.5, URLs as users type them, and the core's profile vectors.
import { describe, expect, it } from 'vitest';
import { loadB25 } from './harness.js';
import { coreVectorJobs, type SignJob, type SignResult, trickyUrlJobs } from './vectors.js';

/** Registers the known-answer tests for a client whose `runJobs` signs a batch of jobs. */
export function describeKnownAnswers(client: string, runJobs: (jobs: SignJob[]) => Promise<SignResult[]>): void {
  const b25 = loadB25();
  describe(`${client}: known answers`, () => {
    it.runIf(b25)('reproduces RFC 9421 B.2.5 (hmac-sha256) byte for byte', async () => {
      const vector = b25!;
      const [out] = await runJobs([
        {
          op: 'components',
          method: vector.method,
          url: vector.url,
          headers: vector.headers,
          components: vector.components,
          params: vector.params,
          secret_b64: vector.secretBase64,
          label: vector.label,
        },
      ]);
      expect(out).toEqual({
        url: vector.url,
        signature_base: vector.signatureBase,
        headers: { 'Signature-Input': vector.signatureInput, Signature: vector.signature },
      });
    });

    it('normalises URLs as users type them exactly like the core signer (WHATWG URL)', async () => {
      const { jobs, expected } = await trickyUrlJobs();
      expect(await runJobs(jobs)).toEqual(expected);
    });

    it('reproduces every hmac-kit profile vector (signature base and signature)', async () => {
      const { jobs, expected } = await coreVectorJobs();
      expect(await runJobs(jobs)).toEqual(expected);
    });
  });
}
