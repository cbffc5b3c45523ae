export * from './env';
export * from './http';
export * from './logger';
export * from './fake-openai';
export * from './webhook-receiver';
export * from './identity';
export * from './tcp-proxy';
export * from './mesh';
