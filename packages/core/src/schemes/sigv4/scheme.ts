/**
 * AWS Signature Version 4 (header and presigned-URL forms), so `curl --aws-sigv4`,
 * the AWS SDK signers and `aws4` can call an hmac-kit API unchanged. Also the
 * branded variant curl produces for another provider (`--aws-sigv4 hmackit:hmackit:...`).
 * Normative description: docs/protocol-sigv4.md.
 */

import type { Scheme } from '../../pipeline/contract.js';
import { resolveSigV4Options, type SigV4Options } from './options.js';
import { createSigV4Parser, type SigV4Credentials } from './parse.js';
import { signSigV4 } from './sign.js';
import { createSigV4SignatureBase } from './signature-base.js';
import { createSigV4Verifier } from './verify.js';

/**
 * AWS Signature Version 4. Key id = access key id; accepted in `Authorization`
 * headers and presigned URLs; default service `hmac-kit`, any region, so that
 * `curl --aws-sigv4 "aws:amz:us-east-1:hmac-kit" --user KEYID:hks_...` works.
 *
 * @example
 * ```ts
 * const verified = await verifyRequest(request, { keys, schemes: [rfc9421(), sigv4({ regions: ['eu-west-1'] })] });
 * ```
 */
export function sigv4(options: SigV4Options = {}): Scheme<SigV4Credentials> {
  const config = resolveSigV4Options(options);
  const { detect, parse } = createSigV4Parser(config);
  const { verify, checkPolicy } = createSigV4Verifier(config);
  return {
    name: 'sigv4',
    detect,
    parse,
    verify,
    checkPolicy,
    signatureBase: createSigV4SignatureBase(config),
    sign: (message, key, signOptions = {}) => signSigV4(config, message, key, signOptions),
  };
}
