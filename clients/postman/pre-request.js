// hmac-kit: Postman pre-request script (collection or request level).
// Signs the request with hmac-kit's RFC 9421 profile: Signature-Input, Signature and, for a body or a
// POST/PUT/PATCH, an RFC 9530 Content-Digest. Uses CryptoJS, which Postman ships.
//
// Set in your environment: hmacKitKeyId = hk_...   hmacKitSecret = hks_... (mark it "secret").
// Optional: hmacKitCoverHeaders = "content-type,x-request-id" to cover more headers;
//   hmacKitAlgorithm = sha256 (default) | sha384 | sha512 (the key's algorithm);
//   hmacKitDigestAlgorithm = sha-256 (default) | sha-512; hmacKitExpiresIn = seconds; hmacKitTag = a tag.
// Bodies: "raw" (any text) or none. form-data/file/urlencoded/graphql bodies are refused: their final
// bytes are produced by Postman after this script runs, so they cannot be digested here.
// See docs/clients.md.
/* global pm */
(() => {
  const CryptoJS = require('crypto-js');

  const variable = (name) => {
    const value = pm.variables.get(name);
    return value === undefined || value === null || value === '' ? undefined : String(value);
  };
  const keyId = variable('hmacKitKeyId');
  const secret = variable('hmacKitSecret');
  if (!keyId || !secret) throw new Error('hmac-kit: set the hmacKitKeyId and hmacKitSecret variables');
  if (!/^hks_[A-Za-z0-9_-]{43,}$/.test(secret)) throw new Error('hmac-kit: hmacKitSecret must be an hks_... secret');
  const algorithm = variable('hmacKitAlgorithm') ?? 'sha256';
  const hmac = { sha256: CryptoJS.HmacSHA256, sha384: CryptoJS.HmacSHA384, sha512: CryptoJS.HmacSHA512 }[algorithm];
  if (!hmac) throw new Error('hmac-kit: hmacKitAlgorithm must be sha256, sha384 or sha512');
  const digestAlgorithm = variable('hmacKitDigestAlgorithm') ?? 'sha-256';
  const digestOf = { 'sha-256': CryptoJS.SHA256, 'sha-512': CryptoJS.SHA512 }[digestAlgorithm];
  if (!digestOf) throw new Error('hmac-kit: hmacKitDigestAlgorithm must be sha-256 or sha-512');
  const expiresIn = variable('hmacKitExpiresIn');
  if (expiresIn !== undefined && !/^\d+$/.test(expiresIn)) throw new Error('hmac-kit: hmacKitExpiresIn takes seconds');
  const tag = variable('hmacKitTag');
  if (tag !== undefined && (!/^[\x20-\x7e]+$/.test(tag) || /["\\]/.test(tag)))
    throw new Error('hmac-kit: bad hmacKitTag');

  // --- URL, serialized as a WHATWG URL parser would (what Node, browsers and the server see) ---
  const C0_AND_SPACE = (c) => c <= 0x20 || c === 0x7f;
  const PATH_EXTRA = '"#<>?`{}';
  const QUERY_EXTRA = '"#<>\'';
  const percentEncode = (text, extra) => {
    let out = '';
    for (const ch of text) {
      const code = ch.codePointAt(0);
      if (code > 0x7e) out += encodeURIComponent(ch);
      else if (C0_AND_SPACE(code) || extra.includes(ch)) out += `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
      else out += ch;
    }
    return out;
  };
  const isDots = (segment, n) => segment.toLowerCase().replace(/%2e/g, '.') === '.'.repeat(n);
  const normalizePath = (rawPath) => {
    let path = rawPath.replace(/\\/g, '/');
    if (!path.startsWith('/')) path = `/${path}`;
    const segments = path.split('/').slice(1);
    const out = [];
    segments.forEach((segment, i) => {
      const last = i === segments.length - 1;
      if (isDots(segment, 2)) {
        out.pop();
        if (last) out.push('');
      } else if (isDots(segment, 1)) {
        if (last) out.push('');
      } else out.push(segment);
    });
    return `/${out.map((s) => percentEncode(s, PATH_EXTRA)).join('/')}`;
  };

  const rawUrl = pm.variables.replaceIn(pm.request.url.toString()).trim();
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#\\]*)([^?#]*)(\?[^#]*)?(#.*)?$/s.exec(rawUrl);
  if (!match) throw new Error(`hmac-kit: not an absolute URL: ${rawUrl}`);
  const scheme = match[1].toLowerCase();
  const defaultPort = { http: '80', https: '443' }[scheme];
  if (!defaultPort) throw new Error('hmac-kit: only http(s) URLs can be signed');
  const hostPort = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(match[2].replace(/^.*@/, '').toLowerCase());
  if (!hostPort?.[1]) throw new Error(`hmac-kit: no host in ${rawUrl}`);
  const port = hostPort[2] ? String(Number(hostPort[2])) : '';
  const authority = port && port !== defaultPort ? `${hostPort[1]}:${port}` : hostPort[1];
  const path = normalizePath(match[3]);
  const query = match[4] === undefined ? '' : `?${percentEncode(match[4].slice(1), QUERY_EXTRA)}`;
  const url = `${scheme}://${authority}${path}${query}`;
  // Send exactly what was signed (Postman keeps existing %XX escapes as they are).
  if (typeof pm.request.url.update === 'function') pm.request.url.update(url);
  else pm.request.url = url;

  // --- body ---
  const method = String(pm.request.method).toUpperCase();
  const body = pm.request.body;
  let payload = '';
  if (body?.mode && !(typeof body.isEmpty === 'function' && body.isEmpty())) {
    if (body.mode !== 'raw') {
      throw new Error(`hmac-kit: ${body.mode} bodies cannot be signed here; send the body as raw text`);
    }
    payload = pm.variables.replaceIn(body.raw || '');
  }

  // --- signature base (RFC 9421) ---
  const headerValue = (name) =>
    pm.request.headers
      .all()
      .filter((h) => !h.disabled && String(h.key).toLowerCase() === name)
      .map((h) =>
        pm.variables
          .replaceIn(String(h.value))
          .replace(/[ \t]*\r?\n[ \t]+/g, ' ')
          .replace(/^[ \t]+|[ \t]+$/g, ''),
      )
      .join(', ');
  const created = Number(variable('hmacKitCreated') ?? Math.floor(Date.now() / 1000));
  const nonce =
    variable('hmacKitNonce') ??
    CryptoJS.lib.WordArray.random(16)
      .toString(CryptoJS.enc.Base64)
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
  const components = [
    ['@method', method],
    ['@authority', authority],
    ['@path', path],
    ['@query', query || '?'],
  ];
  if (payload !== '' || ['POST', 'PUT', 'PATCH'].includes(method)) {
    const digest = `${digestAlgorithm}=:${digestOf(CryptoJS.enc.Utf8.parse(payload)).toString(CryptoJS.enc.Base64)}:`;
    pm.request.headers.upsert({ key: 'Content-Digest', value: digest });
    components.push(['content-digest', digest]);
  }
  for (const name of (variable('hmacKitCoverHeaders') || '').split(',')) {
    const lowered = name.trim().toLowerCase();
    if (!lowered || components.some(([c]) => c === lowered)) continue;
    const value = headerValue(lowered);
    if (!pm.request.headers.all().some((h) => !h.disabled && String(h.key).toLowerCase() === lowered)) {
      throw new Error(`hmac-kit: covered header ${lowered} is not in the request`);
    }
    components.push([lowered, value]);
  }
  if (!/^[\x20-\x7e]+$/.test(keyId) || /["\\]/.test(keyId)) throw new Error('hmac-kit: bad key id');
  const params =
    `(${components.map(([c]) => `"${c}"`).join(' ')});created=${created}` +
    (expiresIn === undefined ? '' : `;expires=${created + Number(expiresIn)}`) +
    `;nonce="${nonce}";keyid="${keyId}";alg="hmac-${algorithm}"` +
    (tag === undefined ? '' : `;tag="${tag}"`);
  const base = [...components.map(([c, v]) => `"${c}": ${v}`), `"@signature-params": ${params}`].join('\n');

  const b64 = secret.slice(4).replace(/-/g, '+').replace(/_/g, '/');
  const key = CryptoJS.enc.Base64.parse(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const signature = hmac(CryptoJS.enc.Utf8.parse(base), key).toString(CryptoJS.enc.Base64);
  pm.request.headers.upsert({ key: 'Signature-Input', value: `sig=${params}` });
  pm.request.headers.upsert({ key: 'Signature', value: `sig=:${signature}:` });
  // Shown in the Postman console, to compare with the server's log line when a signature is refused.
  console.log(`hmac-kit signature base:\n${base}`);
})();
