export * from './events.js';
export * from './state.js';
export * from './stats.js';
export * from './util.js';
export * from './webhooks.js';
export * from './integrations.js';
export { VytalcallClient, SignalingRequestError, RestError, type VytalcallClientOptions, type VytalcallClientEvents } from './client.js';
