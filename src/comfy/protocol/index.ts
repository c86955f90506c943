export * from './http-schemas.js';
export * from './ws-message-schemas.js';
export * from './binary-frame.js';
export * from './parse-ws-message.js';
