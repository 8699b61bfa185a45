/**
 * hmac-kit's default scheme: an RFC 9421 (HTTP Message Signatures) profile with
 * HMAC over shared secrets and an RFC 9530 Content-Digest binding the body.
 * docs/protocol.md specifies it normatively. The phases live beside this module: options.ts,
 * parse.ts, signature-base.ts, verify.ts, sign.ts.
 */

import { setDefaultSchemeFactory } from '../../pipeline/config.js';
import type { Scheme } from '../../pipeline/contract.js';
import { type Rfc9421Options, resolveRfc9421Options } from './options.js';
import { createRfc9421Parser, type Rfc9421Credentials } from './parse.js';
import { createRfc9421Signer } from './sign.js';
import { rfc9421DebugBase } from './signature-base.js';
import { checkRfc9421Policy, verifyRfc9421 } from './verify.js';

/**
 * The RFC 9421 profile (hmac-kit's default scheme).
 *
 * @example
 * ```ts
 * const scheme = rfc9421({ digestAlgorithm: 'sha-512' });
 * const verified = await verifyRequest(request, { keys, schemes: [scheme] });
 * ```
 */
export function rfc9421(options: Rfc9421Options = {}): Scheme<Rfc9421Credentials> {
  const config = resolveRfc9421Options(options);
  const { detect, parse } = createRfc9421Parser(config);
  return Object.freeze({
    name: 'rfc9421',
    detect,
    parse,
    verify: verifyRfc9421,
    checkPolicy: checkRfc9421Policy,
    signatureBase: rfc9421DebugBase,
    sign: createRfc9421Signer(config),
  });
}

setDefaultSchemeFactory(() => rfc9421());
