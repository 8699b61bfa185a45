// Express 4 (devDependency alias `express4` = npm:express@^4), for the tests that run the adapter on
// the oldest Express its peer range (>=4.18) admits. Typed as Express 5's default export: the tests
// use only what both share (app.use/get/post, express.json, req/res basics).
declare module 'express4' {
  import express from 'express';
  export default express;
}
