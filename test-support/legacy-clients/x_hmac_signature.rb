# Family 2 of issue #12 (Ruby): OpenSSL::HMAC.hexdigest('sha256', key, "#{mac_address}:#{timestamp}")
# over two fields of the JSON body (Unix seconds), header X-HMAC-Signature, POST to /verify.
# usage: ruby x_hmac_signature.rb URL SECRET   (prints ACCEPTED/REPLAY/TAMPERED status codes)
require 'json'
require 'net/http'
require 'openssl'
require 'uri'

uri = URI(ARGV[0])
key = ARGV[1]
mac_address = '12:34:56:78:9a:bc'
timestamp = Time.now.to_i
signature = OpenSSL::HMAC.hexdigest('sha256', key, "#{mac_address}:#{timestamp}")

def post(uri, body, signature)
  request = Net::HTTP::Post.new(uri, 'Content-Type' => 'application/json', 'X-HMAC-Signature' => signature)
  request.body = body
  Net::HTTP.start(uri.hostname, uri.port) { |http| http.request(request) }
end

body = { mac_address: mac_address, timestamp: timestamp }.to_json
response = post(uri, body, signature)
puts "ACCEPTED #{response.code} #{response.body}"
puts "REPLAY #{post(uri, body, signature).code}"
tampered = { mac_address: '66:66:66:66:66:66', timestamp: timestamp }.to_json
puts "TAMPERED #{post(uri, tampered, signature).code}"
