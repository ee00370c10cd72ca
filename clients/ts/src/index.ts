// @rhizome/client: a small, dependency-free client of a Rhizome node.

export * from "./wire.js";
export { RhizomeError, UnreachableError } from "./errors.js";
export { canonicalBytes, base64url, fromBase64url, Signer, verifyDelta } from "./canonical.js";
export { memoryStore, indexedDbStore, type OfflineStore } from "./store.js";
export { overlay, type Rejected } from "./outbox.js";
export {
  Rhizome,
  uuidv7,
  type ClientOptions,
  type FeedItem,
  type FeedOptions,
  type Properties,
  type PutOutcome,
  type SubscribeOptions,
  type ViewOptions,
  type ViewResult,
  type WatchOptions,
  type WebSocketLike,
} from "./client.js";
