# Ruby (standard library): clients/ruby/lib/hmac_kit_client.rb
require_relative '../ruby/lib/hmac_kit_client'

response = HmacKitClient.request('POST', "#{ENV.fetch('HMAC_KIT_URL')}/orders",
                                 key_id: ENV.fetch('HMAC_KIT_KEY_ID'), secret: ENV.fetch('HMAC_KIT_SECRET'),
                                 headers: { 'Content-Type' => 'application/json' }, body: '{"sku":"A1","note":"café"}')
puts "#{response.code} #{response.body}"
