# frozen_string_literal: true

# Sign HTTP requests for hmac-kit with Ruby's standard library (OpenSSL::HMAC, Net::HTTP).
#
# The default scheme is hmac-kit's RFC 9421 (HTTP Message Signatures) profile with an
# RFC 9530 Content-Digest over the body. See docs/protocol.md and docs/clients.md.
#
#   require_relative 'hmac_kit_client'
#   signed = HmacKitClient.sign('GET', 'https://api.example.com/v1/whoami', key_id: 'hk_...', secret: ENV['HMAC_SECRET'])
#   signed.headers # => { 'Signature-Input' => 'sig=(...)', 'Signature' => 'sig=:...:' }
#   response = HmacKitClient.request('GET', 'https://api.example.com/v1/whoami', key_id: 'hk_...', secret: ENV['HMAC_SECRET'])

require 'base64'
require 'net/http'
require 'openssl'
require 'securerandom'
require 'uri'

module HmacKitClient
  # The released version (hmac_kit_client.gemspec reads it from here).
  VERSION = '0.1.0'

  # What signing produced: the URL to send to, the headers to add, and the signature base (for debugging).
  Signed = Struct.new(:url, :headers, :signature_base)

  ALG_NAMES = { 'sha256' => 'hmac-sha256', 'sha384' => 'hmac-sha384', 'sha512' => 'hmac-sha512' }.freeze
  DIGESTS = { 'sha-256' => 'SHA256', 'sha-512' => 'SHA512' }.freeze
  # Methods whose (possibly empty) body is always covered by Content-Digest (docs/protocol.md "hasBody").
  BODY_METHODS = %w[POST PUT PATCH].freeze
  DEFAULT_PORTS = { 'http' => 80, 'https' => 443 }.freeze

  # WHATWG URL percent-encode sets: what we sign is what a server that re-parses the target sees.
  C0_AND_SPACE = ((0..0x20).map(&:chr) + ["\x7f"]).freeze
  PATH_ENCODE = (C0_AND_SPACE + %w[" # < > ? ` { }]).freeze
  QUERY_ENCODE = (C0_AND_SPACE + %w[" # < > ']).freeze

  module_function

  # Raw key bytes of a secret: an "hks_<base64url>" string, or raw bytes (a binary String).
  def parse_secret(secret)
    raise TypeError, 'secret must be a String' unless secret.is_a?(String)
    return secret.b if secret.encoding == Encoding::BINARY && !secret.empty?

    encoded = secret.delete_prefix('hks_')
    valid = secret.start_with?('hks_') && !encoded.empty? && encoded.match?(/\A[A-Za-z0-9_-]+\z/) && encoded.length % 4 != 1
    raise TypeError, 'secret must be an hks_... string or raw bytes' unless valid

    raw = Base64.urlsafe_decode64(encoded + ('=' * (-encoded.length % 4)))
    raise TypeError, 'secret must encode at least 32 bytes' if raw.bytesize < 32

    raw
  end

  def percent_encode(text, encode_set)
    text.each_char.map do |ch|
      if encode_set.include?(ch) || ch.ord > 0x7e
        ch.encode('UTF-8').bytes.map { |b| format('%%%02X', b) }.join
      else
        ch
      end
    end.join
  end

  def dot_segment?(segment, dots)
    segment.downcase.gsub('%2e', '.') == '.' * dots
  end

  def normalize_path(path)
    path = path.tr('\\', '/')
    path = "/#{path}" unless path.start_with?('/')
    segments = path.split('/', -1).drop(1)
    out = []
    segments.each_with_index do |segment, i|
      last = i == segments.length - 1
      if dot_segment?(segment, 2)
        out.pop
        out << '' if last
      elsif dot_segment?(segment, 1)
        out << '' if last
      else
        out << segment
      end
    end
    "/#{out.map { |s| percent_encode(s, PATH_ENCODE) }.join('/')}"
  end

  # The URL as a WHATWG URL parser would serialize it (the form hmac-kit signs and sends):
  # UTF-8 percent-encoding of unsafe and non-ASCII characters, existing escapes kept, dot
  # segments resolved, host lower-cased, default port and fragment dropped.
  def normalize_url(url)
    text = url.to_s.strip.force_encoding('UTF-8')
    match = text.match(%r{\A([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\\]*)([^?#]*)(\?[^#]*)?(#.*)?\z}m)
    raise TypeError, 'url must be an absolute http(s) URL' unless match

    scheme = match[1].downcase
    raise TypeError, 'url must be an absolute http(s) URL' unless DEFAULT_PORTS.key?(scheme)

    authority = match[2].sub(/\A.*@/, '').downcase
    host, port = authority.match(/\A(\[[^\]]*\]|[^:]*)(?::(\d*))?\z/)&.captures
    raise TypeError, 'url has no host' if host.nil? || host.empty?

    authority = port.nil? || port.empty? || port.to_i == DEFAULT_PORTS[scheme] ? host : "#{host}:#{port.to_i}"
    query = match[4] ? "?#{percent_encode(match[4][1..], QUERY_ENCODE)}" : ''
    "#{scheme}://#{authority}#{normalize_path(match[3])}#{query}"
  end

  def body_bytes(body)
    return ''.b if body.nil?
    raise TypeError, 'body must be a String (read IO bodies first: the digest needs every byte)' unless body.is_a?(String)

    body.dup.force_encoding(Encoding::BINARY)
  end

  # RFC 9530 Content-Digest header value, e.g. "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:".
  def content_digest(body, algorithm = 'sha-256')
    raise TypeError, 'digest algorithm must be sha-256 or sha-512' unless DIGESTS.key?(algorithm)

    "#{algorithm}=:#{Base64.strict_encode64(OpenSSL::Digest.digest(DIGESTS[algorithm], body_bytes(body)))}:"
  end

  def sf_param(name, value)
    return ";#{name}" if value == true
    return ";#{name}=#{value}" if value.is_a?(Integer)

    text = value.to_s
    raise TypeError, 'parameter values must be printable ASCII' unless text.match?(/\A[\x20-\x7e]*\z/)

    ";#{name}=\"#{text.gsub('\\', '\\\\\\\\').gsub('"', '\\"')}\""
  end

  def header_value(headers, name)
    values = headers.select { |k, _| k.to_s.downcase == name }.values.flat_map { |v| Array(v) }
    return nil if values.empty?

    # RFC 9421 2.1: unfold obsolete line folding, trim each field line, join repeated lines with ", ".
    values.map { |v| v.to_s.gsub(/[ \t]*\r?\n[ \t]+/, ' ').gsub(/\A[ \t]+|[ \t]+\z/, '') }.join(', ')
  end

  def component_value(name, method, url, headers)
    match = url.match(%r{\A([a-z]+)://([^/?#]*)([^?#]*)(\?[^#]*)?\z})
    case name
    when '@method' then method
    when '@authority' then match[2]
    when '@scheme' then match[1]
    when '@target-uri' then url
    when '@path' then match[3].empty? ? '/' : match[3]
    when '@query' then match[4] || '?'
    when '@request-target' then "#{match[3].empty? ? '/' : match[3]}#{match[4] == '?' ? '' : match[4]}"
    else
      raise TypeError, "unsupported derived component #{name}" if name.start_with?('@')

      header_value(headers, name) || raise(TypeError, "covered header #{name} is not in the request")
    end
  end

  # The RFC 9421 signature base and the serialized signature parameters.
  def signature_base(method, url, headers, components, params)
    signature_params = "(#{components.map { |c| "\"#{c}\"" }.join(' ')})#{params.map { |n, v| sf_param(n, v) }.join}"
    lines = components.map { |c| "\"#{c}\": #{component_value(c, method, url, headers)}" }
    lines << "\"@signature-params\": #{signature_params}"
    [lines.join("\n"), signature_params]
  end

  # Low-level RFC 9421 signer: exactly these components and parameters, in this order.
  def sign_components(method, url, headers, components, params, secret, algorithm: 'sha256', label: 'sig')
    raise TypeError, 'algorithm must be sha256, sha384 or sha512' unless ALG_NAMES.key?(algorithm)

    base, signature_params = signature_base(method, url, headers, components, params)
    mac = OpenSSL::HMAC.digest(algorithm.upcase, parse_secret(secret), base.encode('UTF-8'))
    Signed.new(url, {
                 'Signature-Input' => "#{label}=#{signature_params}",
                 'Signature' => "#{label}=:#{Base64.strict_encode64(mac)}:"
               }, base)
  end

  # Signs a request with hmac-kit's RFC 9421 profile. Returns the normalized URL and the headers
  # to add (Signature-Input, Signature and, for a body or a POST/PUT/PATCH, Content-Digest).
  # nonce: false leaves the nonce out (only for servers configured not to require one).
  def sign(method, url, key_id:, secret:, headers: {}, body: nil, algorithm: 'sha256', covered_headers: [],
           label: 'sig', digest_algorithm: 'sha-256', created: nil, expires_in: nil, nonce: nil, tag: nil)
    method = method.to_s.upcase
    url = normalize_url(url)
    payload = body_bytes(body)
    all_headers = headers.to_h.dup
    added = {}
    components = %w[@method @authority @path @query]
    if !payload.empty? || BODY_METHODS.include?(method)
      added['Content-Digest'] = content_digest(payload, digest_algorithm)
      all_headers['Content-Digest'] = added['Content-Digest']
      components << 'content-digest'
    end
    covered_headers.each { |h| components << h.downcase unless components.include?(h.downcase) }
    now = (created || Time.now.to_i).to_i
    params = [['created', now]]
    params << ['expires', now + expires_in.to_i] if expires_in
    params << ['nonce', nonce.is_a?(String) ? nonce : SecureRandom.urlsafe_base64(16)] unless nonce == false
    params << ['keyid', key_id]
    params << ['alg', ALG_NAMES.fetch(algorithm, '')]
    params << ['tag', tag] if tag
    signed = sign_components(method, url, all_headers, components, params, secret, algorithm: algorithm, label: label)
    signed.headers = added.merge(signed.headers)
    signed
  end

  # Signs with the X-API-* scheme (docs/protocol-x-api.md): X-API-Key, -Timestamp, -Nonce, -Signature.
  # The string to sign is "hmac-kit-x-api-v1", the method, the path, the query sorted by byte value,
  # the timestamp, the nonce and the hex hash of the body, joined with LF.
  def sign_x_api(method, url, key_id:, secret:, body: nil, algorithm: 'sha256', timestamp: nil, nonce: nil)
    raise TypeError, 'algorithm must be sha256, sha384 or sha512' unless ALG_NAMES.key?(algorithm)

    url = normalize_url(url)
    match = url.match(%r{\A[a-z]+://[^/?#]*([^?#]*)(?:\?([^#]*))?\z})
    ts = (timestamp || Time.now.to_i).to_i.to_s
    nonce ||= SecureRandom.hex(16)
    raise TypeError, 'nonce must be 16-128 characters of [A-Za-z0-9._~+/=-]' unless nonce.match?(%r{\A[A-Za-z0-9._~+/=-]{16,128}\z})

    query = (match[2] || '').split('&').reject(&:empty?).sort_by(&:b).join('&')
    body_hash = OpenSSL::Digest.hexdigest(algorithm.upcase, body_bytes(body))
    base = ['hmac-kit-x-api-v1', method.to_s.upcase, match[1].empty? ? '/' : match[1], query, ts, nonce, body_hash].join("\n")
    mac = OpenSSL::HMAC.hexdigest(algorithm.upcase, parse_secret(secret), base)
    Signed.new(url, { 'X-API-Key' => key_id, 'X-API-Timestamp' => ts, 'X-API-Nonce' => nonce, 'X-API-Signature' => mac }, base)
  end

  # Sends a signed request with Net::HTTP and returns the Net::HTTPResponse.
  def request(method, url, key_id:, secret:, headers: {}, body: nil, **options)
    payload = body_bytes(body)
    signed = sign(method, url, key_id: key_id, secret: secret, headers: headers, body: payload, **options)
    uri = URI.parse(signed.url)
    request = Net::HTTPGenericRequest.new(
      method.to_s.upcase, !payload.empty? || BODY_METHODS.include?(method.to_s.upcase), true, uri.request_uri
    )
    headers.merge(signed.headers).each { |k, v| request[k] = v }
    request.body = payload if request.request_body_permitted?
    Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == 'https') { |http| http.request(request) }
  end
end
