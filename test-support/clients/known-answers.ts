// The known-answer checks every client with a JSON "jobs in, results out" entry point runs:
// RFC 9421 B.2.5, URLs as users type them, the core's profile vectors, and the X-API-* scheme.
import { describe, expect, it } from 'vitest';
import { clientCases, loadB25 } from './harness.js';
import { coreVectorJobs, type SignJob, type SignResult, trickyUrlJobs, xApiJobs, xApiVectorJobs } from './vectors.js';

/** Registers the known-answer tests for a client whose `runJobs` signs a batch of jobs. */
export function describeKnownAnswers(client: string, runJobs: (jobs: SignJob[]) => Promise<SignResult[]>): void {
  const b25 = loadB25();
  describe(`${client}: known answers`, () => {
    it('reproduces RFC 9421 B.2.5 (hmac-sha256) byte for byte', async () => {
      const vector = b25;
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
  describe(`${client}: X-API-* scheme`, () => {
    it('reproduces the core X-API-* vectors (string to sign and signature)', async () => {
      const { jobs, expected } = xApiVectorJobs();
      const results = await runJobs(jobs);
      expect(
        results.map((r) =>
          'error' in r ? r : { stringToSign: r.signature_base, signature: r.headers['X-API-Signature'] },
        ),
      ).toEqual(expected);
    });

    it('gives the same headers as the core signer for every case (sha256 and sha512)', async () => {
      const { jobs, expected } = await xApiJobs(clientCases);
      const results = await runJobs(jobs);
      expect(results.map((r) => ('error' in r ? r : r.headers))).toEqual(expected);
    });
  });
}
