export const PACKAGE_NAME = '@hmac-kit/undici';
