# frozen_string_literal: true

require_relative 'lib/hmac_kit_client'

Gem::Specification.new do |spec|
  spec.name = 'hmac_kit_client'
  spec.version = HmacKitClient::VERSION
  spec.summary = 'Sign HTTP requests for hmac-kit with the Ruby standard library.'
  spec.description = "hmac-kit's RFC 9421 profile (HTTP Message Signatures + RFC 9530 Content-Digest) and the " \
                     'X-API-* scheme, with OpenSSL::HMAC and Net::HTTP; no gem dependencies.'
  spec.authors = ['hmac-kit contributors']
  spec.license = 'MIT'
  spec.homepage = 'https://github.com/hmac-kit/hmac-kit/tree/main/clients/ruby'
  spec.metadata = {
    'documentation_uri' => 'https://github.com/hmac-kit/hmac-kit/blob/main/docs/clients.md',
    'bug_tracker_uri' => 'https://github.com/hmac-kit/hmac-kit/issues',
    'source_code_uri' => 'https://github.com/hmac-kit/hmac-kit/tree/main/clients/ruby',
    'rubygems_mfa_required' => 'true'
  }
  spec.required_ruby_version = '>= 2.7'
  # Listed, not globbed from git: the gem is built from a source tree or a copy without .git.
  spec.files = ['lib/hmac_kit_client.rb', 'bin/hmac-kit-client', 'README.md', 'LICENSE']
  spec.bindir = 'bin'
  spec.executables = ['hmac-kit-client']
  spec.require_paths = ['lib']
end
