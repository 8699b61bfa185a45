/**
 * SigV4's optional `signatureBase` capability (debug diagnostics, `debugSignatures`): the
 * canonical request and string to sign the verifier MACs, rebuilt from the request alone. Neither
 * depends on a key; the derived signing key is never shown.
 */
import type { SignatureBaseContext, SignatureBaseSection } from '../../pipeline/contract.js';
import { textSection } from '../../pipeline/signature-base.js';
import { toHex } from '../../primitives/encoding.js';
import { sha256HexOfText } from '../../primitives/hmac-sha256.js';
import { splitUrl } from '../compat-support.js';
import { canonicalForms, canonicalHeaderLinesOf } from './canonical.js';
import type { SigV4Config } from './options.js';
import type { SigV4Credentials } from './parse.js';

/**
 * The SigV4 signature base for one configuration: the canonical request in the form the AWS SDKs
 * produce (the first one the verifier tries) and its string to sign. `undefined` when the payload
 * hash is not declared and the body is unknown.
 *
 * @example
 * ```ts
 * const signatureBase = createSigV4SignatureBase(resolveSigV4Options({}));
 * signatureBase(credentials, { message, hasBody: false, body: undefined, crypto }); // [canonical request, string to sign]
 * ```
 */
export function createSigV4SignatureBase(
  config: SigV4Config,
): (credentials: SigV4Credentials, context: SignatureBaseContext) => SignatureBaseSection[] | undefined {
  return (credentials, { message, body, crypto }) => {
    const { parsed } = credentials;
    const url = splitUrl(message.url);
    const headerLines = canonicalHeaderLinesOf(message, parsed.signedHeaders, url.authority);
    const form = canonicalForms(url, parsed, config.acceptUnsortedQuery)[0]!;
    let payloadHash = credentials.payloadHashes?.[0];
    if (payloadHash === undefined && body !== undefined) {
      const hash = crypto.createHash('sha256');
      hash.update(body);
      payloadHash = toHex(hash.digest());
    }
    if (payloadHash === undefined) return undefined;
    const canonicalRequest = `${message.method.toUpperCase()}\n${form.uri}\n${form.query}\n${headerLines}\n${parsed.signedHeadersText}\n${payloadHash}`;
    const stringToSign = `${parsed.provider.algorithm}\n${parsed.amzDate}\n${parsed.scope}\n${sha256HexOfText(crypto, canonicalRequest)}`;
    return [textSection('canonical request', canonicalRequest), textSection('string to sign', stringToSign)];
  };
}
