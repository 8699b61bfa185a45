// axios: every request of this instance is signed.
import { withHmacKit } from '@hmac-kit/axios';
import axios from 'axios';

const api = withHmacKit(axios.create({ baseURL: process.env.HMAC_KIT_URL }), {
  keyId: process.env.HMAC_KIT_KEY_ID,
  secret: process.env.HMAC_KIT_SECRET,
});
const response = await api.post('/orders', { sku: 'A1', note: 'café' });
console.log(response.status, JSON.stringify(response.data));
