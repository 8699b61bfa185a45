// Loaded with `node --import` into a server process under test: logs every module specifier the
// process resolves to the file named by HMAC_KIT_TEST_MODULE_LOG (one per line), so a test can
// tell which packages a running server has loaded.
import { register } from 'node:module';

if (process.env.HMAC_KIT_TEST_MODULE_LOG) {
  register('./module-log-hooks.mjs', import.meta.url, { data: { logFile: process.env.HMAC_KIT_TEST_MODULE_LOG } });
}
